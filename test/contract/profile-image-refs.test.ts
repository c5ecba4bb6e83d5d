import { describe, expect, it } from 'vitest';
import { profilesUsingImage } from '../../cloud/src/routes/profiles.ts';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { newId } from '../../shared/ids.ts';
import { inProcessTarget } from '../support/in-process.ts';
import { paddedBinary, type DebianBinaryName } from './debian-binaries.ts';
import { call, unique } from './target.ts';

/*
 * Profiles that reference images, in-process: the images are inserted as rows, so this does not
 * depend on the upload routes. It checks what the profile routes accept and what the image routes
 * will ask before deleting an image.
 */
describe('profiles referencing images', () => {
  const t = inProcessTarget();
  const image = async (kind = 'file'): Promise<string> => {
    const id = newId('image');
    await t.deps.db.batch([
      sql("INSERT INTO images (id, name, kind, content_type, object_key, created_at, updated_at) VALUES (?, ?, ?, 'application/octet-stream', ?, 0, 0)", id, unique('img'), kind, `images/${id}`),
    ]);
    return id;
  };
  const profile = async (spec: Record<string, unknown>) => call(t, 'POST', '/v1/profiles', { json: { name: unique('p'), spec } });

  it('accepts every image-bearing kind when its images exist, and finds the profiles using an image', async () => {
    const [kernel, initrd1, initrd2, wim, disk, unused] = await Promise.all([image(), image(), image(), image(), image('disk-zst'), image()]);
    const linux = await profile({ kind: 'linux', kernel, initrds: [initrd1, initrd2], cmdline: `console=ttyS0 ${unused}` });
    expect(linux.status).toBe(201);
    expect(linux.body.spec).toEqual({ kind: 'linux', kernel, initrds: [initrd1, initrd2], cmdline: `console=ttyS0 ${unused}` });
    const wimboot = await profile({ kind: 'wimboot', wimboot: wim, bcd: wim, bootSdi: wim, bootWim: initrd2 });
    expect(wimboot.status).toBe(201);
    const imaging = await profile({ kind: 'imaging', kernel, initrds: [initrd1], diskImage: disk });
    expect(imaging.status).toBe(201);
    // An id inside a template is text, not a reference.
    const script = await profile({ kind: 'ipxe', script: kernel });
    expect(script.status).toBe(201);

    expect(await profilesUsingImage(t.deps.db, kernel)).toEqual([linux.body.id, imaging.body.id].sort());
    expect(await profilesUsingImage(t.deps.db, initrd1)).toEqual([linux.body.id, imaging.body.id].sort());
    expect(await profilesUsingImage(t.deps.db, initrd2)).toEqual([linux.body.id, wimboot.body.id].sort());
    expect(await profilesUsingImage(t.deps.db, wim)).toEqual([wimboot.body.id]);
    expect(await profilesUsingImage(t.deps.db, disk)).toEqual([imaging.body.id]);
    expect(await profilesUsingImage(t.deps.db, unused)).toEqual([]);
  });

  it('names only the missing images when some exist', async () => {
    const kernel = await image();
    const r = await profile({ kind: 'linux', kernel, initrds: [kernel, 'img_00000000000000000000000000'] });
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toEqual([{ path: 'spec.initrds.1', message: 'no such image: img_00000000000000000000000000' }]);
  });

  /** An image stored before sniffs were recorded: a ready row with no binary_info, its bytes in the store. */
  const legacyImage = async (file: DebianBinaryName): Promise<string> => {
    const id = newId('image');
    const bytes = paddedBinary(file);
    await t.deps.objects.put(`images/${id}`, new Blob([bytes]).stream(), { size: bytes.length, contentType: 'application/octet-stream' });
    await t.deps.db.batch([
      sql(
        "INSERT INTO images (id, name, kind, content_type, status, size, object_key, created_at, updated_at) VALUES (?, ?, 'efi', 'application/octet-stream', 'ready', ?, ?, 0, 0)",
        id,
        unique(file),
        bytes.length,
        `images/${id}`,
      ),
    ]);
    return id;
  };

  it('sniffs images stored before sniffs were recorded from the object store, once, and records it', async () => {
    const [shim, grub, kernel] = await Promise.all([legacyImage('shim'), legacyImage('grub'), legacyImage('kernel')]);
    expect((await call(t, 'GET', `/v1/images/${shim}`)).body).toMatchObject({ arch: 'any', binary: null });
    const r = await profile({ kind: 'linux', shim, grub, kernel });
    expect(r.status, r.text).toBe(201);
    expect(r.body.spec.arch).toBe('x86-64');
    for (const id of [shim, grub, kernel]) expect((await call(t, 'GET', `/v1/images/${id}`)).body).toMatchObject({ arch: 'x86-64', binary: { format: 'pe', cpu: 'x86-64' } });
  });

  it('refuses a legacy arm64 GRUB the same way, read from the store', async () => {
    const [shim, grub, kernel] = await Promise.all([legacyImage('shim'), legacyImage('ipxeArm64'), legacyImage('kernel')]);
    const r = await profile({ kind: 'linux', shim, grub, kernel });
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toEqual([{ path: 'spec.grub', message: expect.stringMatching(/is an arm64 EFI binary; UEFI x64 machines need an x86-64 one$/) }]);
  });
});
