package main

import "context"

func runPubkey(_ context.Context, _ *env, _ []string) error {
	return errNotYet("pubkey")
}
