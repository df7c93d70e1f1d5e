package main

import "context"

func runExport(_ context.Context, _ *env, _ []string) error {
	return errNotYet("export")
}
