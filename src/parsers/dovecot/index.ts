export {
  parseDovecotMessage,
  type DovecotRecord,
  type DovecotResult,
  type LoginFields,
  type LoginTls,
} from './line.js';
export { DovecotLogFileReader, looksLikeDovecotLog, type LogFileLine } from './log-file.js';
