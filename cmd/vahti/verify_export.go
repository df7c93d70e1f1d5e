package main

import "context"

func runVerifyExport(_ context.Context, _ *env, _ []string) error {
	return errNotYet("verify-export")
}
