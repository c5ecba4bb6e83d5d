/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { ConsoleSession } from './session.ts';

/** Which steps of the first-run path the fleet has taken (what the API shows this token). */
export interface Progress {
  firstSiteId: string | null;
  site: boolean;
  relay: boolean;
  image: boolean;
  profile: boolean;
  assignment: boolean;
}

/**
 * The way from an empty install to a first netboot, in the order each step needs the one before:
 * a relay enrolls into a site, a profile boots images, an assignment names a profile. Shown until
 * every step is done, each step a link to the page (and form) that does it.
 */
export const FirstSteps: FC<{ session: ConsoleSession; progress: Progress }> = ({ session, progress: p }) => {
  if (p.site && p.relay && p.image && p.profile && p.assignment) return null;
  const sitePage = p.firstSiteId ? `/console/sites/${p.firstSiteId}` : '/console/sites#new';
  // Sites, images and profiles are fleet-wide (admins); an operator enrolls relays and assigns at its sites.
  const steps: { done: boolean; href: string; text: string; hint: string; adminOnly: boolean }[] = [
    { done: p.site, href: '/console/sites#new', text: 'Create a site', hint: 'one network with its own relay: a branch office, a lab', adminOnly: true },
    { done: p.relay, href: `${sitePage}#h-relays`, text: 'Enroll a relay', hint: "get an enrollment code on the site's page and paste the install command on the site's box", adminOnly: false },
    { done: p.image, href: '/console/images#upload', text: 'Upload an image', hint: 'a kernel and an initrd, an ISO, a disk image', adminOnly: true },
    { done: p.profile, href: '/console/profiles/new', text: 'Create a profile', hint: 'what a machine boots: a kernel with its initrds and command line, an iPXE script, its local disk', adminOnly: true },
    { done: p.assignment, href: '/console/assignments#new', text: 'Assign the profile', hint: "to a machine by MAC, or to every machine of a site (or set the site's default profile)", adminOnly: false },
  ];
  const next = steps.findIndex((s) => !s.done);
  const role = session.principal.role;
  const writer = role !== 'viewer';
  const can = (step: { adminOnly: boolean }) => role === 'admin' || (role === 'operator' && !step.adminOnly);
  return (
    <section aria-labelledby="h-first-steps" class="panel">
      <h2 id="h-first-steps">Getting started</h2>
      {!writer && <p class="hint">A viewer's token reads the fleet; ask an administrator to take these steps.</p>}
      {role === 'operator' && steps.some((st) => !st.done && st.adminOnly) && <p class="hint">Sites, images and profiles are made by an administrator.</p>}
      <ol class="steps">
        {steps.map((s, i) => (
          <li class={s.done ? 'done' : i === next ? 'next' : ''} aria-current={i === next ? 'step' : undefined}>
            {s.done ? (
              <>
                <span class="badge s-online">done</span> {s.text}
              </>
            ) : can(s) ? (
              <a href={s.href}>{s.text}</a>
            ) : (
              s.text
            )}
            <span class="hint"> — {s.hint}</span>
          </li>
        ))}
      </ol>
    </section>
  );
};
