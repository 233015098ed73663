// The event log: the audit events the strategies emit (their onEvent hooks), newest first, as
// they happen. Polled while the tab is visible.
const list = document.getElementById('event-log');
const describe = ({ at, source, type, ...details }) => {
  const fields = Object.entries(details)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${new Date(at).toLocaleTimeString('en-GB')}  ${source}: ${type}${fields ? `  ${fields}` : ''}`;
};

async function refresh() {
  if (document.visibilityState !== 'visible') return;
  const response = await fetch('/events', { headers: { Accept: 'application/json' } }).catch(() => undefined);
  if (!response?.ok) return;
  const events = await response.json();
  list.replaceChildren(
    ...events.map((event) => Object.assign(document.createElement('li'), { textContent: describe(event) })),
  );
  document.getElementById('event-log-empty').hidden = events.length > 0;
}
refresh();
setInterval(refresh, 2000);
