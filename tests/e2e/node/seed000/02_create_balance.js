const request = require('request');

const options = {
  method: 'POST',
  url: 'http://localhost:5001/balances',
  headers: {
    'Content-Type': 'application/json'
  },
  body: JSON.stringify({
    "ledger_id": "ldg_12345678-90ab-cdef-1234-567890abcdef",
    "currency": "POINTS",
    "meta_data": {
      "customer_name": "Alice",
      "customer_internal_id": "5678"
    }
  })
};

request(options, (error, response) => {
  if (error) throw new Error(error);
  console.log(response.body);
});
