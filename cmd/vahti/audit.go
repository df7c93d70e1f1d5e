package main

import "context"

func runAudit(_ context.Context, _ *env, _ []string) error {
	return errNotYet("audit")
}
