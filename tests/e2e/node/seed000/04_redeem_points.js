const request = require('request');

const options = {
  method: 'POST',
  url: 'http://localhost:5001/transactions',
  headers: {
    'X-Blnk-Key': 'blnk-api',
    'Content-Type': 'application/json'
  },
  body: JSON.stringify({
    "amount": 50,  // Representing 50 points
    "precision": 1,
    "reference": "redemption-001",
    "description": "Points redemption",
    "currency": "POINTS",
    "source": "bln_9f8d7e6c-5b4a-4c9d-8a7e-6f5b4a8c9d7e",  // Alice's loyalty point balance_id
    "destination": "@Store",
    "inflight": true,
    "meta_data": {
      "customer_name": "Alice",
      "redemption_id": "redemption-001"
    }
  })
};

request(options, (error, response) => {
  if (error) throw new Error(error);
  console.log(response.body);
});
