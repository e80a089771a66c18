export {
  HEALTHY,
  unhealthy,
  unknown,
  NODE_MODES,
  SERVICE_KINDS,
  CHECK_KINDS,
  PROTOCOL_VERSION,
  AGENT_CAPABILITIES,
  CAPABILITY_HANDOVER,
  CAPABILITY_VALIDATE,
  type AgentHello,
  type CheckEffect,
  type CheckKind,
  type CheckParams,
  type CheckResult,
  type CheckSpec,
  type CheckStatus,
  type Command,
  type CommandAction,
  type CommandResult,
  type CommandState,
  type DesiredInstance,
  type Handover,
  type HandoverRole,
  type DesiredState,
  type FailbackPolicy,
  type ForeignRouter,
  type InstanceStatus,
  type KeepalivedSettings,
  type LbhaEvent,
  type NodeDelta,
  type NodeMode,
  type NodeSnapshot,
  type PriorityTerm,
  type ServiceKind,
  type ServiceState,
  type ServiceStats,
  type ServiceStatus,
  type VrrpState,
  UNPLANNED_KINDS,
  type UnplannedKind,
  type UnplannedTransition,
} from './domain.js';
export {
  BACKEND_ADMINS,
  serverAddressKey,
  serverKey,
  serverNameProblem,
  type BackendAdmin,
  type BackendHealth,
  type BackendReport,
  type BackendServer,
  type ConfigFileDigest,
  type DesiredBackends,
  type DesiredPool,
  type DesiredPoolServer,
  type ServerIntent,
} from './backends.js';
export {
  BACKEND_REPORT_LIMITS,
  backendAdminWire,
  backendHealthFromWire,
  backendHealthToWire,
  backendReportFromWire,
  backendReportToWire,
  desiredBackendsFromWire,
  desiredBackendsToWire,
  serverAddressProblem,
} from './backend-wire.js';
export { readinessReason, readinessState, type ReadinessProbe, type ReadinessProbeKind, type ReadinessReport, type ReadinessState, type VipReadiness } from './readiness.js';
export { READINESS_REPORT_LIMITS, readinessProbeFromWire, readinessProbeToWire } from './readiness-wire.js';
export { ConfigError, WireError, formatIssues, type ConfigIssue } from './errors.js';
export { createLogger, setLogLevel, silentLogger, type Logger } from './logger.js';
export { nameProblem, isValidName, interfaceProblem } from './names.js';
export {
  MIN_PRIORITY,
  MAX_PRIORITY,
  MAX_PENALTY,
  TRACK_FILE_MIN,
  TRACK_FILE_MAX,
  basePriorityProblem,
  limitPriority,
  limitTrackFileValue,
} from './keepalived-priority.js';
export { isLive, linkFromWire, linkToWire, type NodeLink } from './node-link.js';
export { parseCidr, cidrContains, sameAddress, addressBits, type Cidr } from './ip.js';
export { vipAddressProblem, vipSubnetProblem, subnetText } from './vip-address.js';
export { urlForDisplay } from './redact.js';
export { escapeHelp, escapeLabelValue, formatValue } from './prometheus-text.js';
export { loosePermissions } from './file-permissions.js';
export { isLocalAddress, plaintextProblem } from './loopback.js';
export { parseYaml, parseYamlWith, loadYamlFile, formatPath, type ParseResult, type Locate } from './yaml-config.js';
export { parseDuration, durationMs } from './duration.js';
export {
  applyDelta,
  checkResultFromWire,
  checkResultToWire,
  checkSpecFromWire,
  checkSpecToWire,
  checkStatusFromWire,
  checkStatusToWire,
  commandFromWire,
  commandResultFromWire,
  commandResultToWire,
  commandToWire,
  deltaFromWire,
  deltaToWire,
  desiredStateFromWire,
  desiredStateToWire,
  eventFromWire,
  eventToWire,
  helloFromWire,
  helloToWire,
  instanceStatusFromWire,
  handoverFromWire,
  handoverToWire,
  instanceStatusToWire,
  nodeModeWire,
  serviceStatusFromWire,
  serviceStatusToWire,
  snapshotFromWire,
  snapshotToWire,
  vipReadinessToWire,
  vrrpStateWire,
} from './wire.js';
export {
  AgentServiceClient,
  AgentServiceService,
  ConnectRequest,
  ConnectResponse,
  pbAgent,
  pbBackends,
  pbTypes,
  type AgentServiceServer,
} from './proto.js';
export { checkCoordinatorIdentity, COORDINATOR_URI_PREFIX } from './coordinator-identity.js';
export { uriSans } from './uri-sans.js';
export { tlsSchema, type TlsConfig } from './tls-schema.js';
export { isInsecure, readTlsFiles, serverCredentials, clientCredentials, type TlsFiles } from './tls-config.js';
export {
  CertificateSource,
  loadCertificateFiles,
  watchedClientCredentials,
  type CertificateFiles,
  type CertificateLoad,
  type CertificateSet,
  type CertificateSourceOptions,
} from './certificate-source.js';
export { parseArgsOptions, flagHelp, flagLabel, type FlagSpec, type FlagSpecs, type CommandDoc, type ManSection, type ProgramDoc } from './program-doc.js';
export { renderManPage, type ManPageMeta } from './man-page.js';
export { readPackageVersion, versionText } from './release-version.js';
export { DAEMON_OPTIONS, daemonProgram, parseDaemonArgs, startDaemon, tlsFileProblem, type DaemonArgs, type DaemonCliSpec, type DaemonDoc, type DaemonStart } from './daemon-cli.js';
export { configChanges, withApplied, type ConfigChanges } from './config-changes.js';
export { reloadConfig, type ConfigReload, type ReloadOutcome } from './config-reload.js';
