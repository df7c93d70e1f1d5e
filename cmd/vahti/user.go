package main

import "context"

func runUser(_ context.Context, _ *env, _ []string) error {
	return errNotYet("user")
}
