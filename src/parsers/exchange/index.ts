export { compareReceiveLogNames, listReceiveLogs, looksLikeExchangeSmtpReceive } from './files.js';
export {
  DEFAULT_FIELD_INDEX,
  EXCHANGE_FIELDS,
  endpointAddress,
  parseFieldsHeader,
  parseRow,
  splitCsv,
  type ExchangeEvent,
  type ExchangeRow,
  type FieldIndex,
} from './protocol-log.js';
