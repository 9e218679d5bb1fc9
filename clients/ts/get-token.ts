// Gets a token from jwtgate's OpenAPI surface with openapi-fetch, typed by
// api.d.ts, which openapi-typescript generates from the server's own
// /openapi.json (TestOpenAPI_TypeScriptClient in jsonapi does both, then
// type-checks this file with tsc and runs it with node).
//
// Usage: node get-token.js BASE_URL USERNAME PASSWORD
// (BASE_URL is the server's address followed by the document's server, /api/v1.)
// Prints one JSON line: the token, and what a request that breaks the schema got.
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type GetJWTRequest = components["schemas"]["GetJWTRequest"];

// @ts-expect-error: the generated request type has exactly the document's properties.
const unknownProperty: GetJWTRequest = { expiresAt: "2030-01-31T12:00:00Z", colour: "red" };
void unknownProperty;

const [baseUrl, username, password] = process.argv.slice(2);
if (!baseUrl || !username || !password) {
  console.error("usage: node get-token.js BASE_URL USERNAME PASSWORD");
  process.exit(2);
}

const client = createClient<paths>({ baseUrl });
const body: GetJWTRequest = {
  username,
  password,
  expiresAt: new Date(Date.now() + 60 * 60 * 1000).toISOString(),
  allowedMethods: ["AddressCapture", "Email.IsValid"],
  maxCredits: 10,
  options: { ApplicationName: "ts-client" },
};

const ok = await client.POST("/UserAdmin/GetJWT", { body });
if (!ok.data?.Status.Success || !ok.data.Jwt) {
  console.error(`GetJWT failed: HTTP ${ok.response.status}`, JSON.stringify(ok.error));
  process.exit(1);
}

// One field breaks the schema: the answer is 400 and names it.
const bad = await client.POST("/UserAdmin/GetJWT", { body: { ...body, maxCredits: 0 } });

console.log(JSON.stringify({
  jwt: ok.data.Jwt,
  creditsRemaining: ok.data.Status.CreditsRemaining,
  badStatus: bad.response.status,
  badMessage: bad.error?.Status.ErrorMessage ?? null,
}));
