// Package balance decides where the gateway sends a request, with no client and no HTTP code:
//
//   - PickWeighted splits an endpoint's traffic between its served entities by their
//     traffic_config percentages (a 90/10 canary sends about one request in ten to the
//     canary), from a uniform number the caller draws, so tests choose the numbers;
//   - LeastLoaded picks, among an entity's ready pods, one with the fewest requests in flight,
//     rotating among equals so that an idle entity's pods are used round-robin;
//   - Tracker counts the requests in flight per pod address, which LeastLoaded reads.
package balance
