// GetJWT through node-soap (npm "soap", pinned in ../node), for
// soap/interop's Go test.
//
// Usage: node node_client.js WSDL_URL USERNAME PASSWORD APPLICATION
// Prints one JSON object: {"stack", "version", "results": {call: result}}.
'use strict';

const path = require('node:path');
const nodeDir = path.join(__dirname, '..', 'node');
const soap = require(require.resolve('soap', { paths: [nodeDir] }));
const version = require(path.join(nodeDir, 'node_modules', 'soap', 'package.json')).version;

const [wsdl, username, password, application] = process.argv.slice(2);

// port method -> promise of {result, rawRequest, rawResponse}, keeping the raw
// bodies even when the call fails.
function invoke(method, args) {
  return new Promise((resolve) => {
    method(args, (err, result, rawResponse, _header, rawRequest) => {
      resolve({ err, result, rawRequest, rawResponse });
    });
  });
}

async function call(method, password, maxCredits) {
  const { err, result, rawRequest, rawResponse } = await invoke(method, {
    username,
    password,
    clientIp: '192.0.2.10',
    // node-soap writes strings as they are: an ISO 8601 UTC string is how a
    // JavaScript caller writes a date-time.
    expiresAt: new Date(Date.now() + 3600 * 1000).toISOString(),
    allowedMethods: { string: ['AddressCapture', 'Email.IsValid'] },
    // node-soap writes a null element as xsi:nil="true".
    maxCredits,
    options: { Option: [{ Name: 'ApplicationName', Value: application }] },
  });
  let out;
  if (err) {
    out = err.root && err.root.Envelope && err.root.Envelope.Body && err.root.Envelope.Body.Fault
      ? { fault: JSON.stringify(err.root.Envelope.Body.Fault) }
      : { error: String(err && err.stack || err) };
  } else {
    const r = result.GetJWTResult;
    out = {
      success: r.Status.Success,
      errorMessage: r.Status.ErrorMessage ?? null,
      creditsRemaining: r.Status.CreditsRemaining,
      jwt: r.Jwt ?? null,
    };
  }
  out.request = rawRequest ?? null;
  out.response = typeof rawResponse === 'string' ? rawResponse : null;
  return out;
}

async function main() {
  // node-soap picks the envelope version from forceSoap12Headers, not from
  // the port, and keeps that option on the parsed WSDL, which it caches and
  // shares between clients: each client parses its own.
  const soap11 = await soap.createClientAsync(wsdl, { disableCache: true });
  const soap12 = await soap.createClientAsync(wsdl, { disableCache: true, forceSoap12Headers: true });
  const port11 = soap11.UserAdmin.UserAdminSoap.GetJWT;
  const port12 = soap12.UserAdmin.UserAdminSoap12.GetJWT;
  const results = {
    soap11: await call(port11, password, 5),
    soap11NilMaxCredits: await call(port11, password, null),
    soap11WrongPassword: await call(port11, password + '-wrong', 5),
    soap12: await call(port12, password, 5),
    soap12NilMaxCredits: await call(port12, password, null),
  };
  process.stdout.write(JSON.stringify({ stack: 'node-soap', version, results }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
