// Package jwtgate holds the contracts that live at the root of the
// repository, embedded so that the binary serves exactly what is committed.
// (//go:embed cannot reach "..", so the embedding lives here.)
package jwtgate

import _ "embed"

// WSDL is the hand-written SOAP contract, wsdl/useradmin.wsdl. Its
// soap:address locations read WSDLPlaceholderURL; the server replaces them.
//
//go:embed wsdl/useradmin.wsdl
var WSDL []byte

// WSDLPlaceholderURL is the address written in the WSDL's soap:address elements.
const WSDLPlaceholderURL = "http://localhost:8080/useradmin.asmx"
