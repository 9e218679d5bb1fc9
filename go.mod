module github.com/jwtgate/jwtgate

go 1.26

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/gorilla/mux v1.8.1
	github.com/hooklift/gowsdl v0.5.0
	github.com/mattn/go-sqlite3 v1.14.53
	golang.org/x/crypto v0.45.0
	golang.org/x/term v0.37.0
)

require golang.org/x/sys v0.38.0 // indirect

tool github.com/hooklift/gowsdl/cmd/gowsdl
