// Package mailauth logs postdesk in to IMAP and SMTP servers that want
// OAuth2 instead of a password (Microsoft 365, Google Workspace): the SASL
// client mechanisms XOAUTH2 and OAUTHBEARER (RFC 7628), and the access
// tokens they carry, from golang.org/x/oauth2 (client credentials for
// app-only access, or a refresh token for delegated access).
//
// OAUTHBEARER is go-sasl's client. XOAUTH2 is written here because go-sasl
// has no client for it; it is Google's and Microsoft's documented format,
// one line of a few fields (see xoauth2.go).
//
// An OAuth2 value caches its access token in memory and fetches a new one a
// minute before the old one expires, or when the server refused it
// (Invalidate). Tokens never leave it except inside a SASL response, and its
// errors never hold one.
//
// # Errors
//
// The one bit that matters to a caller is whether an error is about the
// credentials (IsAuthFailure: the token endpoint answered with an OAuth2
// error such as invalid_client or invalid_grant) or temporary (the endpoint
// is unreachable, slow or answers 5xx): a credential error is shown to the
// operator and retried slowly, a temporary one is retried as any network
// fault.
package mailauth
