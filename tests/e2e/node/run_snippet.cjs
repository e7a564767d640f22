// Runs one of the seeds' NodeJS snippets unchanged against a Tally server.
//
//   node run_snippet.cjs seed000/03_award_points.js
//
// The snippet's own code is not touched. Its `require('request')` gets the real `request`
// package behind a thin wrapper that only (1) points the seed's base URL (http://localhost:5001)
// at TALLY_BASE_URL and (2) swaps the placeholder ids the seed shows for the ones the server
// returned earlier (SNIPPET_IDS: a JSON object {"<seed id>": "<real id>"}). Every exchange is
// recorded; the last stdout line is {exchanges, printed}.
"use strict";

const Module = require("module");
const path = require("path");
const realRequest = require("request");

const SEED_BASE_URL = "http://localhost:5001";
const baseUrl = process.env.TALLY_BASE_URL;
const ids = JSON.parse(process.env.SNIPPET_IDS || "{}");
const snippet = process.argv[2];
if (!baseUrl || !snippet) {
  throw new Error("usage: TALLY_BASE_URL=... node run_snippet.cjs <snippet.js>");
}

const exchanges = [];
const printed = [];

function substitute(text) {
  let out = text;
  for (const [seedId, realId] of Object.entries(ids)) {
    out = out.split(seedId).join(realId);
  }
  return out;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    return null;
  }
}

function wrappedRequest(options, callback) {
  if (!options.url.startsWith(SEED_BASE_URL)) {
    throw new Error(`unexpected URL in snippet: ${options.url}`);
  }
  const sent = {
    ...options,
    url: baseUrl + options.url.slice(SEED_BASE_URL.length),
    body: options.body === undefined ? undefined : substitute(options.body),
  };
  return realRequest(sent, (error, response) => {
    exchanges.push({
      method: sent.method,
      url: sent.url,
      headers: sent.headers,
      request_body: sent.body === undefined ? null : parseJson(sent.body),
      error: error ? String(error) : null,
      status: response ? response.statusCode : null,
      body: response ? parseJson(response.body) : null,
      raw_body: response ? response.body : null,
    });
    callback(error, response);
  });
}

const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (request === "request") {
    return wrappedRequest;
  }
  return originalLoad.call(this, request, parent, isMain);
};

const originalLog = console.log;
console.log = (...args) => {
  printed.push(args.map(String).join(" "));
};

process.on("exit", () => {
  originalLog(JSON.stringify({ exchanges, printed }));
});

require(path.resolve(__dirname, snippet));
