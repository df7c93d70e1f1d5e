package main

import "context"

func runServe(_ context.Context, _ *env, _ []string) error {
	return errNotYet("serve")
}
