/**
 * Every text of the console in English and Chinese, one entry per key, so that a key missing in
 * one language does not compile. The language is chosen in the header and kept in localStorage.
 */
import { createContext, useContext } from 'react';

/** The console's languages. */
export const LANGUAGES = ['en', 'zh'] as const;
/** One of {@link LANGUAGES}. */
export type Language = (typeof LANGUAGES)[number];

/** The dictionary: key → text per language. */
export const dictionary = {
  appTitle: { en: 'pgdts console', zh: 'pgdts 控制台' },
  dataSources: { en: 'Data sources', zh: '数据源' },
  tasks: { en: 'Tasks', zh: '任务' },
  newTask: { en: 'New task', zh: '新建任务' },
  logout: { en: 'Log out', zh: '退出' },
  language: { en: 'Language', zh: '语言' },
  loginTitle: { en: 'Log in to pgdts serve', zh: '登录 pgdts serve' },
  apiToken: { en: 'API token', zh: 'API 令牌' },
  apiTokenHint: {
    en: 'The token pgdts serve printed on its first start, or PGDTS_API_TOKEN. Kept in this tab only.',
    zh: 'pgdts serve 首次启动时打印的令牌，或 PGDTS_API_TOKEN。仅保存在当前标签页。',
  },
  login: { en: 'Log in', zh: '登录' },
  addDataSource: { en: 'Add data source', zh: '新增数据源' },
  identifier: { en: 'Identifier', zh: '标识' },
  type: { en: 'Type', zh: '类型' },
  hostPort: { en: 'Host:port', zh: '主机:端口' },
  host: { en: 'Host', zh: '主机' },
  port: { en: 'Port', zh: '端口' },
  database: { en: 'Database', zh: '数据库' },
  region: { en: 'Region', zh: '地域' },
  attributes: { en: 'Attributes', zh: '属性' },
  remarks: { en: 'Remarks', zh: '备注' },
  lastTest: { en: 'Last test', zh: '最近测试' },
  username: { en: 'Username', zh: '用户名' },
  password: { en: 'Password', zh: '密码' },
  schemaOnly: { en: 'Schema (only this one selectable)', zh: 'Schema（仅可选此 schema）' },
  sslmode: { en: 'SSL mode', zh: 'SSL 模式' },
  caCertificate: { en: 'CA certificate (PEM)', zh: 'CA 证书（PEM）' },
  clientCertificate: { en: 'Client certificate (PEM)', zh: '客户端证书（PEM）' },
  clientKey: { en: 'Client key (PEM)', zh: '客户端私钥（PEM）' },
  clientKeyPassword: { en: 'Client key password', zh: '客户端私钥密码' },
  heartbeat: { en: 'Heartbeat (write a heartbeat on the primary)', zh: '心跳（在主库写心跳）' },
  standbyHost: { en: 'Standby host', zh: '备库主机' },
  standbyPort: { en: 'Standby port', zh: '备库端口' },
  identifierHint: { en: '1-32 letters and digits, unique', zh: '1-32 位字母和数字，唯一' },
  uploadPem: { en: 'Upload a PEM file', zh: '上传 PEM 文件' },
  save: { en: 'Save', zh: '保存' },
  edit: { en: 'Edit', zh: '编辑' },
  editDataSource: { en: 'Edit data source {id}', zh: '编辑数据源 {id}' },
  keepSecret: { en: 'Set: leave empty to keep it', zh: '已设置：留空则保持不变' },
  cancel: { en: 'Cancel', zh: '取消' },
  delete: { en: 'Delete', zh: '删除' },
  confirm: { en: 'Confirm', zh: '确认' },
  testConnection: { en: 'Test connection', zh: '测试连接' },
  testAs: { en: 'Test as', zh: '测试角色' },
  roleSource: { en: 'source', zh: '源库' },
  roleDestination: { en: 'destination', zh: '目标库' },
  check: { en: 'Check', zh: '检查项' },
  status: { en: 'Status', zh: '状态' },
  message: { en: 'Message', zh: '信息' },
  fix: { en: 'Fix', zh: '修复建议' },
  actions: { en: 'Actions', zh: '操作' },
  none: { en: 'None yet', zh: '暂无' },
  confirmDeleteDataSource: { en: 'Delete data source {id}?', zh: '删除数据源 {id}？' },
  loading: { en: 'Loading…', zh: '加载中…' },
  // Wizard
  stepBasics: { en: 'Source and destination', zh: '源库和目标库' },
  stepObjects: { en: 'Objects', zh: '同步对象' },
  stepAdvanced: { en: 'Advanced', zh: '高级配置' },
  stepPrecheck: { en: 'Precheck', zh: '预检查' },
  taskName: { en: 'Task name', zh: '任务名称' },
  sourceDataSource: { en: 'Source data source', zh: '源数据源' },
  destinationDataSource: { en: 'Destination data source', zh: '目标数据源' },
  syncTypes: { en: 'Sync types', zh: '同步类型' },
  syncSchema: { en: 'Schema sync', zh: '结构同步' },
  syncFull: { en: 'Full sync', zh: '全量同步' },
  syncIncremental: { en: 'Incremental sync', zh: '增量同步' },
  next: { en: 'Next', zh: '下一步' },
  back: { en: 'Back', zh: '上一步' },
  sourceObjects: { en: 'Source objects', zh: '源库对象' },
  wholeSchema: { en: 'Whole schema', zh: '整个 schema' },
  destinationSchema: { en: 'Destination schema', zh: '目标 schema' },
  table: { en: 'Table', zh: '表' },
  rows: { en: 'Rows', zh: '行数' },
  primaryKey: { en: 'Primary key', zh: '主键' },
  renameTo: { en: 'Destination name (schema.table)', zh: '目标名称（schema.table）' },
  whereFilter: { en: 'WHERE filter', zh: 'WHERE 过滤条件' },
  selected: { en: 'Selected', zh: '已选' },
  loadTables: { en: 'Load tables', zh: '加载表' },
  conflictingTables: { en: 'Tables existing in the destination', zh: '目标库已存在的表' },
  conflictPrecheckError: { en: 'precheck error', zh: '预检查报错' },
  conflictIgnore: { en: 'ignore (use them)', zh: '忽略（直接使用）' },
  onConflict: { en: 'Key conflict in incremental sync', zh: '增量同步主键冲突' },
  onConflictError: { en: 'stop with an error', zh: '报错停止' },
  onConflictOverwrite: { en: 'overwrite', zh: '覆盖' },
  fullRowsPerSecond: { en: 'Full sync: rows per second (empty: no limit)', zh: '全量：每秒行数（空为不限）' },
  fullMbPerSecond: { en: 'Full sync: MB per second', zh: '全量：每秒 MB' },
  incRowsPerSecond: { en: 'Incremental: rows per second', zh: '增量：每秒行数' },
  incMbPerSecond: { en: 'Incremental: MB per second', zh: '增量：每秒 MB' },
  alertWebhook: { en: 'Alert webhook URL', zh: '告警 Webhook 地址' },
  alertTaskFailed: { en: 'Alert when the task fails', zh: '任务失败时告警' },
  alertLatency: { en: 'Alert when the lag exceeds (seconds)', zh: '延迟超过（秒）时告警' },
  showApiRequest: { en: 'Show API request', zh: '预览 API 请求参数' },
  createAndPrecheck: { en: 'Create task and precheck', zh: '创建任务并预检查' },
  precheckAgain: { en: 'Precheck again', zh: '重新预检查' },
  ignore: { en: 'Ignore', zh: '忽略' },
  ignored: { en: 'ignored', zh: '已忽略' },
  start: { en: 'Start', zh: '启动' },
  precheckPassed: { en: 'Precheck passed', zh: '预检查通过' },
  precheckNotPassed: {
    en: 'Precheck not passed: fix the failures, ignore the warnings, precheck again',
    zh: '预检查未通过：修复失败项、忽略警告后重新预检查',
  },
  // Task list and page
  name: { en: 'Name', zh: '名称' },
  state: { en: 'State', zh: '状态' },
  phase: { en: 'Phase', zh: '阶段' },
  lag: { en: 'Lag', zh: '延迟' },
  rowsPerSecond: { en: 'Rows/s', zh: '行/秒' },
  filter: { en: 'Filter', zh: '筛选' },
  pause: { en: 'Pause', zh: '暂停' },
  resume: { en: 'Resume', zh: '恢复' },
  release: { en: 'Release', zh: '释放' },
  confirmAction: { en: '{action} task {name}?', zh: '确定{action}任务 {name}？' },
  tableProgress: { en: 'Tables', zh: '表进度' },
  lagChart: { en: 'Lag', zh: '延迟' },
  throughputChart: { en: 'Throughput', zh: '吞吐' },
  logs: { en: 'Recent log lines', zh: '最近日志' },
  alerts: { en: 'Alerts', zh: '告警' },
  throttle: { en: 'Throttle (applies while running)', zh: '限流（运行中生效）' },
  apply: { en: 'Apply', zh: '应用' },
  applied: { en: 'Applied', zh: '已应用' },
  lastError: { en: 'Last error', zh: '最近错误' },
  retainedWal: { en: 'Retained WAL', zh: '保留的 WAL' },
  ranges: { en: 'ranges', zh: '分片' },
  definition: { en: 'Definition', zh: '任务定义' },
  openTask: { en: 'Open', zh: '查看' },
  errorsRetries: { en: 'Errors / retries', zh: '错误 / 重试' },
  noPrimaryKey: { en: 'no PK, replica identity {ri}', zh: '无主键，REPLICA IDENTITY {ri}' },
  menu: { en: 'menu', zh: '菜单' },
  stateFilter: { en: 'State filter', zh: '按状态筛选' },
  newDataSource: { en: 'New…', zh: '新建…' },
  newSourceDataSource: { en: 'New source data source', zh: '新建源数据源' },
  newDestinationDataSource: { en: 'New destination data source', zh: '新建目标数据源' },
  operations: { en: 'Operations', zh: '同步操作' },
  checkingFilter: { en: 'Checking on the source…', zh: '正在源库校验…' },
  filterValid: { en: 'Valid on the source', zh: '源库校验通过' },
  bulkRename: { en: 'Bulk rename rules', zh: '批量重命名规则' },
  bulkRenameHint: {
    en: 'Rules rename schema.table patterns; * captures, the first matching rule wins, a name set on a table or schema wins over rules.',
    zh: '规则按 schema.table 模式重命名；* 捕获，首条匹配的规则生效，表或 schema 上单独设置的名称优先于规则。',
  },
  ruleKind: { en: 'Rule', zh: '规则类型' },
  rulePrefix: { en: 'Add a table name prefix', zh: '表名加前缀' },
  ruleSuffix: { en: 'Add a table name suffix', zh: '表名加后缀' },
  ruleSchema: { en: 'Rename the schema', zh: '重命名 schema' },
  ruleReplace: { en: 'Replace a table name prefix', zh: '替换表名前缀' },
  ruleSchemaScope: { en: 'In schema', zh: '作用的 schema' },
  everySchema: { en: 'every schema (*)', zh: '所有 schema (*)' },
  ruleText: { en: 'Text', zh: '文本' },
  newSchemaName: { en: 'New schema name', zh: '新 schema 名' },
  replaceFrom: { en: 'Prefix', zh: '原前缀' },
  replaceTo: { en: 'Replace with', zh: '替换为' },
  addRule: { en: 'Add rule', zh: '添加规则' },
  addEmptyRule: { en: 'Add a rule by hand', zh: '手工添加规则' },
  ruleFrom: { en: 'Rule {n}: from', zh: '规则 {n}：源' },
  ruleTo: { en: 'Rule {n}: to', zh: '规则 {n}：目标' },
  removeRule: { en: 'Remove rule {n}', zh: '删除规则 {n}' },
  destinationPreview: { en: 'Destination names', zh: '目标名称预览' },
  sourceTable: { en: 'Source table', zh: '源表' },
  destinationTable: { en: 'Destination table', zh: '目标表' },
  retryConnection: { en: 'Retry connection failures for (minutes)', zh: '连接失败重试时长（分钟）' },
  retryOther: { en: 'Retry other errors for (minutes)', zh: '其他错误重试时长（分钟）' },
  defaultValue: { en: 'default {value}', zh: '默认 {value}' },
  heartbeatOn: { en: 'Heartbeat on the source', zh: '源库心跳' },
  heartbeatHint: {
    en: 'Writes to the source while idle, so the slot moves and the lag is measured (else the data source setting applies)',
    zh: '源库空闲时写入心跳，使复制槽前进并可测量延迟（不勾选则按数据源设置）',
  },
  heartbeatInterval: { en: 'Heartbeat interval (ms)', zh: '心跳间隔（毫秒）' },
  heartbeatTable: { en: 'Heartbeat table (schema.table)', zh: '心跳表（schema.table）' },
  heartbeatTableHint: {
    en: 'empty: a logical decoding message (PostgreSQL 14+)',
    zh: '留空：使用逻辑解码消息（PostgreSQL 14+）',
  },
  retainedWalChart: { en: 'Retained WAL', zh: '保留的 WAL' },
  alertHistory: { en: 'Alert history', zh: '告警历史' },
  phaseTimeline: { en: 'Phase timeline', zh: '阶段时间线' },
} as const satisfies Record<string, Record<Language, string>>;

/** A key of the {@link dictionary}. */
export type TextKey = keyof typeof dictionary;

/** Looks up `key` in `lang`, with `{name}` placeholders replaced from `vars`. */
export function translate(lang: Language, key: TextKey, vars: Record<string, string> = {}): string {
  return dictionary[key][lang].replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m);
}

/** The language in use and its setter. */
export interface LanguageState {
  readonly lang: Language;
  readonly setLang: (l: Language) => void;
}

/** React context of the language. */
export const LanguageContext = createContext<LanguageState>({ lang: 'en', setLang: () => undefined });

/** The translate function of the current language. */
export function useTexts(): (key: TextKey, vars?: Record<string, string>) => string {
  const { lang } = useContext(LanguageContext);
  return (key, vars) => translate(lang, key, vars);
}
