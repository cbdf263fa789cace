// Sends the SDK scenario of tests/cdp/test_segment_sdks.py with @segment/analytics-node (the real npm package,
// installed by scripts/sdk-clients.sh under var/npm). Usage: node node_send.js <host> <writeKey> <prefix> [people]
// Prints {"failures": [...], "requests": n} once every event is flushed (or failed).
const { Analytics } = require('@segment/analytics-node')

async function main() {
  const [host, writeKey, prefix, peopleArg] = process.argv.slice(2)
  const people = Number(peopleArg || 1)
  const analytics = new Analytics({
    writeKey, host, maxRetries: 6, flushAt: 3, flushInterval: 100, httpRequestTimeout: 60000,
  })
  const failures = []
  let requests = 0
  analytics.on('error', (err) => failures.push(String((err && (err.reason || err.message)) || err)))
  analytics.on('http_request', () => { requests += 1 })
  for (let n = 0; n < people; n += 1) {
    const tag = people > 1 ? `${prefix}-${n}` : prefix
    const user = `${tag}-user`
    analytics.page({ anonymousId: `${tag}-anon`, name: 'Pricing', properties: { path: '/pricing' } })
    analytics.identify({ userId: user, traits: { email: `${tag}@sdk.example`, plan: 'pro' } })
    analytics.alias({ previousId: `${tag}-anon`, userId: user })
    analytics.track({ userId: user, event: 'Order Completed', properties: { revenue: 19.99, order_id: `${tag}-1` } })
    analytics.track({ userId: user, event: 'Order Completed', properties: { revenue: 5.01, order_id: `${tag}-2` } })
    analytics.track({ userId: user, event: 'Product Viewed', properties: { sku: 'sku-1' } })
    analytics.group({ userId: user, groupId: 'acme', traits: { name: 'Acme' } })
  }
  await analytics.closeAndFlush({ timeout: 120000 })
  process.stdout.write(JSON.stringify({ failures, requests }) + '\n')
}

main().catch((err) => { process.stderr.write(String(err && err.stack) + '\n'); process.exit(1) })
