"""Loyalty and payment errors. Each names a business fact; the HTTP table maps them by class."""

from __future__ import annotations

from tally.core.errors import (
    BadRequest,
    Conflict,
    InsufficientFunds,
    NotFound,
    ValidationFailed,
)


class LoyaltyInvalid(ValidationFailed):
    """A loyalty or payment request breaks a field rule (bad rule, negative amount, bad period)."""

    code = "LOY_VALIDATION_ERROR"


class UnknownObject(BadRequest):
    """A request body names an object (account, reward, customer ...) that does not exist."""

    code = "LOY_UNKNOWN_OBJECT"


class ProgramNotFound(NotFound):
    """No loyalty program has this id."""

    code = "LOY_PROGRAM_NOT_FOUND"


class CustomerNotFound(NotFound):
    """No customer has this id."""

    code = "LOY_CUSTOMER_NOT_FOUND"


class AccountNotFound(NotFound):
    """No loyalty account has this id."""

    code = "LOY_ACCOUNT_NOT_FOUND"


class RewardNotFound(NotFound):
    """No reward has this id."""

    code = "LOY_REWARD_NOT_FOUND"


class RedemptionNotFound(NotFound):
    """No redemption has this id."""

    code = "LOY_REDEMPTION_NOT_FOUND"


class PaymentNotFound(NotFound):
    """No payment has this id."""

    code = "PAY_NOT_FOUND"


class RefundNotFound(NotFound):
    """No refund has this id."""

    code = "PAY_REFUND_NOT_FOUND"


class InsufficientPoints(InsufficientFunds):
    """The account's available points (balance less held points) cannot cover the request."""

    code = "LOY_INSUFFICIENT_POINTS"


class ProgramMismatch(LoyaltyInvalid):
    """Two objects that must belong to the same program do not (account and reward, ...)."""

    code = "LOY_PROGRAM_MISMATCH"


class PaymentCurrencyMismatch(LoyaltyInvalid):
    """A redemption's discount currency differs from the payment's currency."""

    code = "PAY_CURRENCY_MISMATCH"


class RefundExceedsCharge(LoyaltyInvalid):
    """A refund asks for more than what is left to refund of the amount charged."""

    code = "PAY_REFUND_EXCEEDS_CHARGE"


class MemberUnresolved(LoyaltyInvalid):
    """The payment has no loyalty member (no linked customer, no ``metadata.loyalty_account``)."""

    code = "PAY_NO_MEMBER"


class MemberAmbiguous(LoyaltyInvalid):
    """The payment's customer has accounts in several programs and the payment names none."""

    code = "PAY_AMBIGUOUS_MEMBER"


class AccountExists(Conflict):
    """The customer already has an account in this program (one per customer per program)."""

    code = "LOY_ACCOUNT_EXISTS"


class CustomerAlreadyLinked(Conflict):
    """The account is already linked to another customer."""

    code = "LOY_ACCOUNT_ALREADY_LINKED"


class PaymentStateConflict(Conflict):
    """The payment is not in a state that allows this (completing a failed payment, ...)."""

    code = "PAY_INVALID_STATE"


class RedemptionNotHeld(Conflict):
    """The redemption was committed or released already; it cannot be used or cancelled again."""

    code = "LOY_REDEMPTION_NOT_HELD"


class RedemptionExpired(RedemptionNotHeld):
    """The redemption's hold timed out and its points went back to the member."""

    code = "LOY_REDEMPTION_EXPIRED"


class RedemptionAttached(Conflict):
    """The redemption is already attached to another payment."""

    code = "LOY_REDEMPTION_ATTACHED"


class AwardRefused(Conflict):
    """An award replay cannot run (payment not completed, or refunded before any award)."""

    code = "PAY_AWARD_REFUSED"


class StalePlan(Conflict):
    """State changed between planning and writing (a concurrent request won); retry the request."""

    code = "GEN_CONFLICT_RETRY"
