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
      <h3>Cookies</h3>
      <Keys keys={device.cookies} />
      <h3>Storage</h3>
      <Keys keys={device.storage} />
    </section>
  );
}
