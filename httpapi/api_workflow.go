package httpapi

// workflowRoutes are the routes of cases, tasks, review and arbitration.
func (s *Server) workflowRoutes() []apiRoute { return nil }
