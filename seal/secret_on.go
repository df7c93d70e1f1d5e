//go:build goexperiment.runtimesecret

package seal

import "runtime/secret"

// secretDo runs f under runtime/secret.Do: its stack and registers are
// erased when it returns, and its heap allocations once they are freed.
func secretDo(f func()) { secret.Do(f) }
