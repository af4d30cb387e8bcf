// Name resolution for the client scripts. localhost, as the integration tier's gateway
// certificate names it, is this machine's IPv4 loopback; SPL_RESOLVE=<host>=<address> points a
// host at an address, as curl's --connect-to does: the real-node tier reaches a gateway pod by
// its address under the Service's name.
'use strict';
const dns = require('node:dns');

dns.setDefaultResultOrder('ipv4first');
if (process.env.SPL_RESOLVE) {
  const [name, address] = process.env.SPL_RESOLVE.split('=');
  const lookup = dns.lookup;
  dns.lookup = (host, options, callback) => {
    if (host !== name) return lookup(host, options, callback);
    const cb = typeof options === 'function' ? options : callback;
    const all = typeof options === 'object' && options.all;
    process.nextTick(() => (all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
    return undefined;
  };
}
