import { useEffect, useState } from 'react';

/** The cookies and storage keys the page holds now (the demo's own bookkeeping left out). */
function readDevice() {
  const cookies = document.cookie.split(';').map((c) => c.trim().split('=')[0] ?? '').filter(Boolean);
  const local = Object.keys(localStorage).filter((key) => !key.startsWith('demo.'));
  return { cookies, storage: [...local, ...Object.keys(sessionStorage).map((key) => `session: ${key}`)].sort() };
}

const Keys = ({ keys }: { keys: string[] }) => (keys.length > 0 ? <div className="keys">{keys.map((key) => <code key={key}>{key}</code>)}</div> : <p className="muted">none</p>);

export function DeviceView() {
  const [device, setDevice] = useState(readDevice);
  useEffect(() => {
    const timer = setInterval(() => setDevice(readDevice()), 500);
    return () => clearInterval(timer);
  }, []);
  return (
    <section>
      <h2>On this device</h2>
      <p className="muted small">
        Below full the tracker keeps nothing here. consent-tracker keeps the decision, a queue per page load or tab (each
        with a lease, taken over by the next load once it lapses) and the identity given after a withdrawal.
      </p>
      <h3>Cookies</h3>
      <Keys keys={device.cookies} />
      <h3>Storage</h3>
      <Keys keys={device.storage} />
    </section>
  );
}
