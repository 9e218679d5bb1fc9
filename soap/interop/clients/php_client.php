<?php
// GetJWT through PHP's SoapClient (ext/soap), for soap/interop's Go test.
//
// Usage: php php_client.php WSDL_URL USERNAME PASSWORD APPLICATION
// Prints one JSON object: {"stack", "version", "results": {call: result}}.

[, $wsdl, $username, $password, $application] = $argv;

function client(string $wsdl, int $version): SoapClient
{
    return new SoapClient($wsdl, [
        'soap_version' => $version,
        'cache_wsdl' => WSDL_CACHE_NONE,
        'exceptions' => true,
        'trace' => true,
    ]);
}

function call(SoapClient $client, string $username, string $password, ?int $maxCredits, string $application): array
{
    $out = [];
    try {
        $res = $client->GetJWT([
            'username' => $username,
            'password' => $password,
            'clientIp' => '192.0.2.10',
            // ext/soap encodes an integer timestamp as an xsd:dateTime itself.
            'expiresAt' => time() + 3600,
            'allowedMethods' => ['string' => ['AddressCapture', 'Email.IsValid']],
            'maxCredits' => $maxCredits,
            'options' => ['Option' => [['Name' => 'ApplicationName', 'Value' => $application]]],
        ]);
        $r = $res->GetJWTResult;
        $out = [
            'success' => $r->Status->Success,
            'errorMessage' => $r->Status->ErrorMessage ?? null,
            'creditsRemaining' => $r->Status->CreditsRemaining,
            'jwt' => $r->Jwt ?? null,
        ];
    } catch (SoapFault $f) {
        $out = ['fault' => $f->faultcode . ': ' . $f->getMessage()];
    } catch (Throwable $e) { // report, do not hide, anything the stack throws
        $out = ['error' => get_class($e) . ': ' . $e->getMessage()];
    }
    $out['request'] = $client->__getLastRequest();
    $out['response'] = $client->__getLastResponse();
    return $out;
}

$soap11 = client($wsdl, SOAP_1_1);
$soap12 = client($wsdl, SOAP_1_2);
$results = [
    'soap11' => call($soap11, $username, $password, 5, $application),
    'soap11NilMaxCredits' => call($soap11, $username, $password, null, $application),
    'soap11WrongPassword' => call($soap11, $username, $password . '-wrong', 5, $application),
    'soap12' => call($soap12, $username, $password, 5, $application),
    'soap12NilMaxCredits' => call($soap12, $username, $password, null, $application),
];
echo json_encode(['stack' => 'php-soapclient', 'version' => PHP_VERSION, 'results' => $results], JSON_UNESCAPED_SLASHES), "\n";
