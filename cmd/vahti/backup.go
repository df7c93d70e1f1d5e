package main

import "context"

func runBackup(_ context.Context, _ *env, _ []string) error {
	return errNotYet("backup")
}
