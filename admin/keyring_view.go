package admin

// Holders is how many keeper sessions keep the site key open: the
// dashboard's sealing panel says how many logouts (or expiries) stand
// between now and a box that opens nothing. No key material leaves.
func (k *Keyring) Holders() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return 0
	}
	return len(k.holders)
}
