package seal

import "bytes"

// The epoch keys a Keyring opened, kept while the keyring is open: an
// export or playback of an hour opens sixty segments of one day, and
// opening the day's key (an HPKE open and an ML-KEM key expansion) for
// each doubled the key cost of a sealed read. Keeping them adds nothing a
// thief of memory would not have: the site key beside them opens every
// epoch. They are wiped with the keyring, and one is dropped the moment
// the registry no longer has its epoch (Unwrapper checks on every use),
// so a destroyed day's key lives at most until the next read of that day
// or the keyring's wipe, whichever comes first.
type cachedEpoch struct {
	pub []byte // the public key it was opened for: a changed row is opened afresh
	key *EpochKey
}

// openDataKey opens a segment's sealed data key with its epoch's key,
// opening and keeping the epoch key if it is not kept yet.
func (k *Keyring) openDataKey(day EpochID, pub, sealedPriv []byte, h Header, sealed []byte) (*DataKey, error) {
	k.emu.RLock()
	if c, ok := k.epochs[day]; ok && bytes.Equal(c.pub, pub) {
		defer k.emu.RUnlock()
		return c.key.OpenDataKey(h, sealed)
	}
	k.emu.RUnlock()
	epub, err := ParseEpochPublicKey(day, pub)
	if err != nil {
		return nil, err
	}
	ek, err := k.OpenEpoch(epub, sealedPriv)
	if err != nil {
		return nil, err
	}
	k.emu.Lock()
	if k.Wiped() {
		k.emu.Unlock()
		ek.Wipe()
		return nil, ErrWiped
	}
	if old, ok := k.epochs[day]; ok {
		old.key.Wipe() // no reader holds it: they hold emu for reading
	}
	if k.epochs == nil {
		k.epochs = map[EpochID]cachedEpoch{}
	}
	k.epochs[day] = cachedEpoch{pub: bytes.Clone(pub), key: ek}
	k.emu.Unlock()
	k.emu.RLock()
	defer k.emu.RUnlock()
	return ek.OpenDataKey(h, sealed) // ErrWiped if a Wipe came between
}

// forgetEpoch wipes the kept key of one epoch.
func (k *Keyring) forgetEpoch(day EpochID) {
	k.emu.Lock()
	defer k.emu.Unlock()
	if c, ok := k.epochs[day]; ok {
		c.key.Wipe()
		delete(k.epochs, day)
	}
}

// forgetEpochs wipes every kept epoch key (Wipe).
func (k *Keyring) forgetEpochs() {
	k.emu.Lock()
	defer k.emu.Unlock()
	for day, c := range k.epochs {
		c.key.Wipe()
		delete(k.epochs, day)
	}
}

// keptEpochs is how many epoch keys are kept (tests).
func (k *Keyring) keptEpochs() int {
	k.emu.RLock()
	defer k.emu.RUnlock()
	return len(k.epochs)
}
