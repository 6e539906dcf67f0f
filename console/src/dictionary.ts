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
