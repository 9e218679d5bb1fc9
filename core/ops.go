package core

// The operations every surface serves, in one table: what each is called,
// how the usage ledger names its calls, which credentials it accepts and
// which codes it may answer. Surfaces build their routes from it and prove
// (in their tests) that they serve each operation and map each code.

// CredentialKind is a way a caller proves who it is.
type CredentialKind uint8

const (
	// CredPassword is a username and password.
	CredPassword CredentialKind = 1 << iota
	// CredAPIKey is an API key: "apikey-KEY" as the username, or given on its own.
	CredAPIKey
	// CredBearer is a token the account was issued; its allowedMethods must
	// allow the operation.
	CredBearer
	// CredServiceKey is the key of one of the operator's services.
	CredServiceKey
)

// Op is one operation of the UserAdmin service.
type Op struct {
	// Name is the operation as the surfaces name it (/UserAdmin/<Name>.json,
	// the SOAP element, the operationId).
	Name string
	// Method names its calls in the usage ledger, and is what a bearer
	// token's allowedMethods must allow. ChargeJWT's lines carry the
	// metered method instead, once it is a valid one.
	Method string
	// Recorded says whether its calls are in the usage ledger.
	Recorded bool
	// Credentials are the kinds it accepts.
	Credentials CredentialKind
	// Codes are the codes its errors may carry.
	Codes []Code

	// noBearer is why it takes no bearer token, for those that take an
	// account's credentials.
	noBearer string
}

// Accepts reports whether the operation takes credentials of kind k.
func (op *Op) Accepts(k CredentialKind) bool { return op.Credentials&k != 0 }

// The service every operation belongs to, as ledger methods name it.
const ServiceUserAdmin = "UserAdmin"

var (
	OpGetJWT = &Op{
		Name: "GetJWT", Method: "UserAdmin.GetJWT", Recorded: true,
		Credentials: CredPassword | CredAPIKey,
		Codes:       []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ENOCREDITS, ETHROTTLED, EBUSY, EINTERNAL},
		noBearer:    "GetJWT does not accept a bearer token (a token cannot mint tokens); send a username and password or an API key",
	}
	OpVerifyJWT = &Op{
		Name: "VerifyJWT", Method: "UserAdmin.VerifyJWT",
		Credentials: CredServiceKey,
		Codes:       []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, EINTERNAL},
	}
	OpChargeJWT = &Op{
		Name: "ChargeJWT", Method: "UserAdmin.ChargeJWT", Recorded: true,
		Credentials: CredServiceKey,
		Codes:       []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ENOCREDITS, ECONFLICT, EINTERNAL},
	}
	OpRevokeJWT = &Op{
		Name: "RevokeJWT", Method: "UserAdmin.RevokeJWT",
		Credentials: CredPassword | CredAPIKey | CredBearer,
		Codes:       []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ENOTFOUND, ETHROTTLED, EBUSY, EINTERNAL},
	}
	OpGetCreditsRemaining = &Op{
		Name: "GetCreditsRemaining", Method: "UserAdmin.GetCreditsRemaining",
		Credentials: CredPassword | CredAPIKey | CredBearer,
		Codes:       []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ETHROTTLED, EBUSY, EINTERNAL},
	}
	OpGetUsage = &Op{
		Name: "GetUsage", Method: "UserAdmin.GetUsage",
		Credentials: CredPassword | CredAPIKey | CredBearer,
		Codes:       []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ETHROTTLED, EBUSY, EINTERNAL},
	}
)

// Ops returns every operation, in the order the contracts list them.
func Ops() []*Op {
	return []*Op{OpGetJWT, OpVerifyJWT, OpChargeJWT, OpRevokeJWT, OpGetCreditsRemaining, OpGetUsage}
}

// OpNamed returns the operation called name (exactly), or nil.
func OpNamed(name string) *Op {
	for _, op := range Ops() {
		if op.Name == name {
			return op
		}
	}
	return nil
}

// Admit applies the operation's rules on how an account's credentials are
// given, before any of them is looked up: an API key given on its own
// excludes a username and password; a bearer token is refused by an
// operation that takes none, and otherwise excludes the other kinds.
//
// Every operation that takes an account's credentials applies it first. A
// surface that reads other fields after the credentials calls it before
// them too, so that on every surface the refusal of the credentials comes
// before the refusal of a field.
func (op *Op) Admit(c Credentials) error {
	login := c.Username != "" || c.Password != ""
	switch {
	case c.APIKey != "" && login:
		return &Error{Code: EINVALID, Field: FieldAPIKey, Message: "give either a username and password or an API key, not both"}
	case c.Bearer != "" && !op.Accepts(CredBearer):
		if op.noBearer == "" {
			return Errorf(EUNAUTHORIZED, "%s does not accept a bearer token", op.Name)
		}
		return Errorf(EUNAUTHORIZED, "%s", op.noBearer)
	case c.APIKey != "" && c.Bearer != "":
		return &Error{Code: EINVALID, Field: FieldAPIKey, Message: "give either a bearer token or an API key, not both"}
	case c.Bearer != "" && login:
		return Errorf(EINVALID, "give either a bearer token or a username and password, not both")
	}
	return nil
}

// AllowsCode reports whether code is one the operation may answer.
func (op *Op) AllowsCode(code Code) bool {
	for _, c := range op.Codes {
		if c == code {
			return true
		}
	}
	return false
}
