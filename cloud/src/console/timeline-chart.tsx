/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Timeline } from '../../../shared/schemas/boot-events.ts';
import { duration } from './layout.tsx';

type Boot = Timeline['boots'][number];

const LABEL_W = 150;
const BAR_W = 450;
const ROW_H = 18;
const ERROR_STAGES = new Set(['tftp-error', 'file-error', 'callback-failed']);

/**
 * One boot's stages as horizontal bars on a shared time axis, drawn on the server as SVG (no script,
 * no inline styles, so the page's CSP stays strict). Bars start where the stage started and are as
 * long as its duration; a stage without a duration gets a tick. The same numbers are in the table
 * below it for screen readers and for copying.
 */
export const BootChart: FC<{ boot: Boot; index: number }> = ({ boot, index }) => {
  const start = Date.parse(boot.startedAt);
  const end = Math.max(Date.parse(boot.endedAt), ...boot.stages.map((s) => Date.parse(s.at) + (s.durationMs ?? 0)));
  const total = Math.max(end - start, 1);
  const x = (ms: number) => LABEL_W + (ms / total) * BAR_W;
  const height = boot.stages.length * ROW_H + 24;
  const titleId = `chart-${index}-title`;
  return (
    <svg class="chart" viewBox={`0 0 ${LABEL_W + BAR_W + 70} ${height}`} role="img" aria-labelledby={titleId}>
      <title id={titleId}>{`Boot stages over ${duration(total)}: ${boot.stages.map((s) => `${s.stage} ${duration(s.durationMs)}`).join(', ')}`}</title>
      <line class="axis" x1={LABEL_W} y1={0} x2={LABEL_W} y2={height - 18} />
      {boot.stages.map((s, i) => {
        const at = Date.parse(s.at) - start;
        const w = s.durationMs === null ? 2 : Math.max((s.durationMs / total) * BAR_W, 2);
        const y = i * ROW_H + 3;
        const cls = ERROR_STAGES.has(s.stage) ? 'error' : s.source;
        return (
          <g>
            <text x={LABEL_W - 6} y={y + 11} text-anchor="end">
              {s.stage}
            </text>
            <rect class={cls} x={x(at).toFixed(1)} y={y} width={w.toFixed(1)} height={ROW_H - 6} rx={2} />
            <text x={(x(at) + w + 4).toFixed(1)} y={y + 11}>
              {duration(s.durationMs)}
            </text>
          </g>
        );
      })}
      <text x={LABEL_W} y={height - 4}>
        0
      </text>
      <text x={LABEL_W + BAR_W} y={height - 4} text-anchor="end">
        {duration(total)}
      </text>
    </svg>
  );
};
