// Package soap serves jwtgate's UserAdmin service over SOAP 1.1 and 1.2
// (document/literal wrapped) at /useradmin.asmx, from the hand-written WSDL
// in wsdl/. Requests are decoded into the types gowsdl generates from that
// WSDL (package useradminws); the handler itself is written by hand.
package soap

//go:generate go tool gowsdl -p useradminws -o useradminws.go -d . ../wsdl/useradmin.wsdl
