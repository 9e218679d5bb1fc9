"""GetJWT through Python zeep, for soap/interop's Go test.

Usage: zeep_client.py WSDL_URL USERNAME PASSWORD APPLICATION
Prints one JSON object: {"stack", "version", "results": {call: result}}.
"""

import datetime
import json
import sys

import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin


def main():
    wsdl, username, password, application = sys.argv[1:5]
    history = HistoryPlugin()
    client = zeep.Client(wsdl, plugins=[history])
    soap11 = client.bind("UserAdmin", "UserAdminSoap")
    soap12 = client.bind("UserAdmin", "UserAdminSoap12")

    ArrayOfString = client.get_type("{http://www.data-8.co.uk/integr8}ArrayOfString")
    ArrayOfOption = client.get_type("{http://www.data-8.co.uk/integr8}ArrayOfOption")
    Option = client.get_type("{http://www.data-8.co.uk/integr8}Option")

    def call(service, password, max_credits):
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        out = {}
        try:
            res = service.GetJWT(
                username=username,
                password=password,
                clientIp="192.0.2.10",
                expiresAt=expires,
                allowedMethods=ArrayOfString(string=["AddressCapture", "Email.IsValid"]),
                maxCredits=max_credits,
                options=ArrayOfOption(Option=[Option(Name="ApplicationName", Value=application)]),
            )
            out = {
                "success": res.Status.Success,
                "errorMessage": res.Status.ErrorMessage,
                "creditsRemaining": res.Status.CreditsRemaining,
                "jwt": res.Jwt,
            }
        except Fault as f:
            out = {"fault": "%s: %s" % (f.code, f.message)}
        except Exception as e:  # report, do not hide, anything the stack raises
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        if history.last_sent is not None:
            out["request"] = etree.tostring(history.last_sent["envelope"]).decode()
        if history.last_received is not None:
            out["response"] = etree.tostring(history.last_received["envelope"]).decode()
        return out

    results = {
        "soap11": call(soap11, password, 5),
        "soap11NilMaxCredits": call(soap11, password, None),
        "soap11WrongPassword": call(soap11, password + "-wrong", 5),
        "soap12": call(soap12, password, 5),
        "soap12NilMaxCredits": call(soap12, password, None),
    }
    json.dump({"stack": "zeep", "version": zeep.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
