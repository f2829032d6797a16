package graphsim

import "crypto/subtle"

// PasswordIs reports whether password is the live user upn's password, as
// a sign-in to the tenant would find: for tests and the demo to see that
// a password set through passwordProfile reached the tenant.
func (s *Server) PasswordIs(upn, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByUPN(upn)
	return u != nil && u.password != "" && subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) == 1
}
