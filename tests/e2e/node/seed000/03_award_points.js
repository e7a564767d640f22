const request = require('request');

const options = {
  method: 'POST',
  url: 'http://localhost:5001/transactions',
  headers: {
    'X-Blnk-Key': 'blnk-api',
    'Content-Type': 'application/json'
  },
  body: JSON.stringify({
    "amount": 100,  // Representing 100 points
    "precision": 1,
    "reference": "purchase-001",
    "description": "Points for purchase",
    "currency": "POINTS",
    "source": "@Store",
    "destination": "bln_9f8d7e6c-5b4a-4c9d-8a7e-6f5b4a8c9d7e",  // Alice's loyalty point balance_id
    "inflight": true,
    "meta_data": {
      "customer_name": "Alice",
      "purchase_id": "purchase-001"
    }
  })
};

request(options, (error, response) => {
  if (error) throw new Error(error);
  console.log(response.body);
});
