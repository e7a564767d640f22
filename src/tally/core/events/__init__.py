"""Events and webhooks: event envelopes, subscriptions, retry policy and balance-monitor rules."""
