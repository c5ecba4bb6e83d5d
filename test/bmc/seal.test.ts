import { describe, expect, it } from 'vitest';
import { generateRelayKeyPair, isRelayPublicKey, MAX_SEALED_LENGTH, MAX_SECRET_BYTES, openSecret, SealError, sealSecret } from '../../shared/crypto/seal.ts';

/** Sealed once by this module and kept: a format change that breaks stored credentials fails here. */
const FIXTURE = {
  keys: { publicKey: 'LKBomsTB5v68y7IcSWzLf4eXC_QYIOppUWQISZEl8DM', privateKey: 'MC4CAQAwBQYDK2VuBCIEIJA79tXpcFBTMg2hHSMhxBuRTQemsNS-8cPqyuylhBpA' },
  sealed: 's1.wBMLiQE1nGQnHEk76atGe2RF0gt-biJAsJ9UyNgYGhI.CCzQBMLEVMPzhI9T.eeZF2OtGoYWOOPVExFI1Nlx54aLo39ec6BQ',
  binding: { machineId: 'mach_fixture', relayId: 'relay_fixture' },
};

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'opened';
  } catch (err) {
    return err instanceof SealError ? err.reason : `other: ${String(err)}`;
  }
}

describe('sealed BMC credentials', () => {
  const binding = { machineId: 'mach_01', relayId: 'relay_01' };

  it('opens a credential sealed in an earlier version of the code', async () => {
    expect(await openSecret(FIXTURE.sealed, FIXTURE.keys, FIXTURE.binding)).toBe('hunter2-ÿ');
  });

  it('round-trips through a fresh key pair, and never carries the password in clear', async () => {
    const keys = await generateRelayKeyPair();
    expect(isRelayPublicKey(keys.publicKey)).toBe(true);
    const sealed = await sealSecret('calvin', keys.publicKey, binding);
    expect(sealed).toMatch(/^s1\./);
    expect(sealed).not.toContain('calvin');
    expect(sealed).not.toContain(btoa('calvin').replace(/=+$/, ''));
    expect(await openSecret(sealed, keys, binding)).toBe('calvin');
  });

  it('seals the same password differently each time (a fresh ephemeral key and IV)', async () => {
    const keys = await generateRelayKeyPair();
    expect(await sealSecret('same', keys.publicKey, binding)).not.toBe(await sealSecret('same', keys.publicKey, binding));
  });

  it('refuses a ciphertext moved to another machine or another relay id', async () => {
    const keys = await generateRelayKeyPair();
    const sealed = await sealSecret('calvin', keys.publicKey, binding);
    expect(await reason(openSecret(sealed, keys, { ...binding, machineId: 'mach_02' }))).toBe('wrong-recipient');
    expect(await reason(openSecret(sealed, keys, { ...binding, relayId: 'relay_02' }))).toBe('wrong-recipient');
  });

  it("refuses a ciphertext sealed for another relay's key", async () => {
    const mine = await generateRelayKeyPair();
    const theirs = await generateRelayKeyPair();
    const sealed = await sealSecret('calvin', theirs.publicKey, binding);
    expect(await reason(openSecret(sealed, mine, binding))).toBe('wrong-recipient');
  });

  it('refuses an altered ciphertext and malformed input with a reason', async () => {
    const keys = await generateRelayKeyPair();
    const sealed = await sealSecret('calvin', keys.publicKey, binding);
    // A character inside the ciphertext (the last one may carry only padding bits base64 drops).
    const at = sealed.lastIndexOf('.') + 2;
    const altered = sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1);
    expect(await reason(openSecret(altered, keys, binding))).toBe('wrong-recipient');
    expect(await reason(openSecret('calvin', keys, binding))).toBe('malformed');
    expect(await reason(openSecret('s1.x.y.z', keys, binding))).toBe('malformed');
    expect(await reason(openSecret(`s1.${'A'.repeat(43)}.${'A'.repeat(16)}.${'A'.repeat(22)}`, keys, binding))).not.toBe('opened');
    expect(await reason(openSecret(sealed, { ...keys, privateKey: 'AAAA' }, binding))).toBe('bad-key');
  });

  it('refuses to seal to something that is not a public key, or a password over the bound', async () => {
    expect(await reason(sealSecret('x', 'not-a-key', binding))).toBe('bad-key');
    const keys = await generateRelayKeyPair();
    expect(await reason(sealSecret('x'.repeat(MAX_SECRET_BYTES + 1), keys.publicKey, binding))).toBe('too-long');
    const longest = await sealSecret('x'.repeat(MAX_SECRET_BYTES), keys.publicKey, binding);
    expect(longest.length).toBeLessThanOrEqual(MAX_SEALED_LENGTH);
  });
});
