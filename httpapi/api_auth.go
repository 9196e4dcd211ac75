package httpapi

// authRoutes are the routes of accounts, sessions, tokens and project
// membership.
func (s *Server) authRoutes() []apiRoute { return nil }
