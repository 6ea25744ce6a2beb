import { LEGACY_TLS, TLS_LABELS, TLS_PROTOCOLS, type TlsCounts } from './api';
import { TLS_COLORS } from './charts';
import { formatCount, formatPercent, percentOf } from './format';

interface TlsMixProps {
  counts: TlsCounts;
  testId: string;
}

/** Messages per TLS version with their share; TLS 1.0, TLS 1.1 and no TLS are marked legacy. */
export function TlsMix({ counts, testId }: TlsMixProps) {
  const total = TLS_PROTOCOLS.reduce((sum, protocol) => sum + counts[protocol], 0);

  return (
    <table className="tls-mix" data-testid={testId}>
      <caption className="visually-hidden">Messages per TLS version</caption>
      <thead>
        <tr>
          <th scope="col">TLS version</th>
          <th scope="col" className="numeric">
            Messages
          </th>
          <th scope="col" className="numeric">
            Share
          </th>
          <th scope="col" className="bar-column">
            <span className="visually-hidden">Share as a bar</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {TLS_PROTOCOLS.map((protocol) => {
          const count = counts[protocol];
          const share = percentOf(count, total);
          const isLegacy = LEGACY_TLS.includes(protocol);
          const rowClass = isLegacy && count > 0 ? 'legacy' : undefined;
          return (
            <tr key={protocol} className={rowClass} data-protocol={protocol}>
              <th scope="row">
                {TLS_LABELS[protocol]}
                {isLegacy && <span className="badge badge-legacy">Legacy</span>}
              </th>
              <td className="numeric" data-cell="messages">
                {formatCount(count)}
              </td>
              <td className="numeric" data-cell="percent">
                {formatPercent(share)}
              </td>
              <td className="bar-column" aria-hidden="true">
                <span className="share-bar">
                  <span
                    className="share-bar-fill"
                    style={{ width: `${share}%`, backgroundColor: TLS_COLORS[protocol] }}
                  />
                </span>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
