// Package auth owns who someone is: local accounts and their passwords,
// browser sessions with their CSRF tokens, personal API tokens, sign-in
// rate limiting and lockout, and the account side of OpenID Connect
// sign-in (claims to an account and its roles). What someone may do is
// package policy's; the HTTP side (cookies, the OpenID Connect protocol
// exchange) is httpapi's; storage is a radmark.UserStore.
//
// Secrets are never stored. Passwords are argon2id hashes
// (golang.org/x/crypto/argon2) in the PHC string form; session ids and API
// tokens are 256-bit random values stored as their SHA-256 (a fast hash
// is right for them: they are not guessable, unlike passwords). A
// session's CSRF token is an HMAC of its secret, so it is bound to the
// session and needs no storage.
//
// Nothing here is written by hand that a library does: argon2 comes from
// x/crypto; what is left is the glue radmark's rules need (which
// parameters, which errors, which audit events).
package auth
