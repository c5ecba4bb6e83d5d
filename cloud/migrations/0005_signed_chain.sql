-- Secure Boot and architectures (issue G). What an image's first bytes say (shared/boot/binary-info.ts,
-- as JSON) is recorded when its content is stored, so a profile save can check that its shim is a
-- signed x86-64 EFI application without reading the object again. NULL: stored before this column
-- existed (sniffed from the object store on demand, then recorded) or no content yet.
ALTER TABLE images ADD COLUMN binary_info TEXT;
-- x86-64, arm64 or any: the content's CPU when its bytes say it, otherwise as the operator set it.
ALTER TABLE images ADD COLUMN arch TEXT NOT NULL DEFAULT 'any';
-- 1 on, 0 off, NULL not known (treated as off): UEFI x64 machines with Secure Boot on boot only
-- through a profile's signed shim → GRUB chain.
ALTER TABLE machines ADD COLUMN secure_boot INTEGER;
