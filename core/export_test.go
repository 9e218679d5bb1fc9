package core

// Unexported rules, exposed to the package's external tests (the fuzz
// targets) only: the exported API does not change.
var (
	ClientAllowed = clientAllowed
	CallerAllowed = callerAllowed
)
