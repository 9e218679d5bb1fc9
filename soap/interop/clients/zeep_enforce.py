"""Enforcement through Python zeep, for soap/interop's Go test.

Usage: zeep_enforce.py WSDL_URL USERNAME PASSWORD SERVICE_KEY
Gets a token limited to 2 credits for Email methods, then charges it
(retrying one requestId), verifies it, reads the balance and usage, revokes
it and tries once more. Prints one JSON object with every step's result.
"""

import datetime
import json
import sys

import zeep
from zeep.exceptions import Fault


def main():
    wsdl, username, password, service_key = sys.argv[1:5]
    client = zeep.Client(wsdl)
    svc = client.bind("UserAdmin", "UserAdminSoap")
    svc12 = client.bind("UserAdmin", "UserAdminSoap12")
    ArrayOfString = client.get_type("{http://www.data-8.co.uk/integr8}ArrayOfString")
    ArrayOfOption = client.get_type("{http://www.data-8.co.uk/integr8}ArrayOfOption")
    Option = client.get_type("{http://www.data-8.co.uk/integr8}Option")

    out = {}

    def step(name, fn):
        try:
            out[name] = zeep.helpers.serialize_object(fn(), dict)
        except Fault as f:
            out[name] = {"fault": "%s: %s" % (f.code, f.message)}
        except Exception as e:  # report, do not hide, anything the stack raises
            out[name] = {"error": "%s: %s" % (type(e).__name__, e)}
        return out[name]

    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    tok = step("getJWT", lambda: svc.GetJWT(
        username=username, password=password, clientIp="192.0.2.0/24", expiresAt=expires,
        allowedMethods=ArrayOfString(string=["Email"]), maxCredits=2,
        options=ArrayOfOption(Option=[Option(Name="ApplicationName", Value="zeep-shop")])))
    jwt = tok.get("Jwt")

    def charge(service, request_id):
        return lambda: service.ChargeJWT(serviceKey=service_key, jwt=jwt, method="Email.IsValid",
                                         credits=1, clientIp="192.0.2.7", requestId=request_id)

    step("charge1", charge(svc, "order-1"))
    step("charge1Retry", charge(svc, "order-1"))
    step("charge2", charge(svc12, "order-2"))
    step("charge3", charge(svc, "order-3"))
    step("wrongIP", lambda: svc.ChargeJWT(serviceKey=service_key, jwt=jwt, method="Email.IsValid",
                                           credits=1, clientIp="198.51.100.1", requestId="order-4"))
    step("verify", lambda: svc.VerifyJWT(serviceKey=service_key, jwt=jwt, method="email.Send", clientIp="192.0.2.7"))
    step("balance", lambda: svc.GetCreditsRemaining(username=username, password=password))
    step("usage", lambda: svc.GetUsage(username=username, password=password))
    step("revoke", lambda: svc.RevokeJWT(jwt=jwt))
    step("afterRevoke", charge(svc, "order-5"))
    json.dump({"stack": "zeep", "version": zeep.__version__, "results": out}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
