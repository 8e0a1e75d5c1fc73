// An in-memory run index table behind a mocked DynamoDBDocumentClient: evaluates the condition, key and update
// expressions RunIndex sends, so unit tests exercise the real conditional writes, not canned answers.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type BatchWriteCommandInput,
  type DeleteCommandInput,
  type DynamoDBDocumentClient,
  type GetCommandInput,
  type PutCommandInput,
  type QueryCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { RUN_INDEX } from '../../functions/lib/contract';

export type Item = Record<string, unknown>;

/** What an expression can refer to: `#name` placeholders, `:value` placeholders. */
interface Scope {
  names: Record<string, string>;
  values: Record<string, unknown>;
}

const TOKEN = /\s*(\(|\)|,|=|<>|<=|>=|<|>|[A-Za-z_][A-Za-z0-9_.]*|#[A-Za-z0-9_]+|:[A-Za-z0-9_]+)/y;

function tokenize(expression: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.length) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(expression);
    if (!match) {
      if (/^\s*$/.test(expression.slice(start))) break;
      throw new Error(`fake table: cannot parse "${expression}" at ${start}`);
    }
    tokens.push(match[1]);
  }
  return tokens;
}

/** Evaluates a DynamoDB condition or key condition (the subset RunIndex uses) against one item. */
export function evaluateCondition(expression: string, item: Item | undefined, scope: Scope): boolean {
  const tokens = tokenize(expression);
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const token = tokens[at++];
    if (expected !== undefined && token !== expected) throw new Error(`fake table: expected ${expected}, got ${token} in "${expression}"`);
    return token;
  };
  const attribute = (token: string) => (token.startsWith('#') ? scope.names[token] : token);
  const operand = (token: string): unknown => {
    if (token.startsWith(':')) {
      if (!(token in scope.values)) throw new Error(`fake table: ${token} has no value in "${expression}"`);
      return scope.values[token];
    }
    return item?.[attribute(token)];
  };

  const primary = (): boolean => {
    const token = take();
    if (token === '(') {
      const value = or();
      take(')');
      return value;
    }
    if (token === 'NOT') return !primary();
    if (peek() === '(' && ['attribute_exists', 'attribute_not_exists', 'begins_with'].includes(token)) {
      take('(');
      const name = attribute(take());
      let result: boolean;
      if (token === 'begins_with') {
        take(',');
        const prefix = operand(take());
        const value = item?.[name];
        result = typeof value === 'string' && typeof prefix === 'string' && value.startsWith(prefix);
      } else {
        const exists = item !== undefined && item[name] !== undefined;
        result = token === 'attribute_exists' ? exists : !exists;
      }
      take(')');
      return result;
    }
    const left = operand(token);
    const op = take();
    if (op === '=') return left === operand(take());
    if (op === '<>') return left !== operand(take());
    if (op === '<' || op === '<=' || op === '>' || op === '>=') {
      const right = operand(take());
      // DynamoDB compares only values of one type; a missing attribute compares false.
      if (left === undefined || typeof left !== typeof right) return false;
      const [a, b] = [left as number | string, right as number | string];
      return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
    }
    if (op === 'IN') {
      take('(');
      const list = [operand(take())];
      while (peek() === ',') {
        take(',');
        list.push(operand(take()));
      }
      take(')');
      return list.includes(left);
    }
    if (op === 'BETWEEN') {
      const low = operand(take()) as string;
      take('AND');
      const high = operand(take()) as string;
      return typeof left === 'string' && left >= low && left <= high;
    }
    throw new Error(`fake table: unsupported operator ${op} in "${expression}"`);
  };
  const and = (): boolean => {
    let value = primary();
    while (peek() === 'AND') {
      take();
      const right = primary();
      value = value && right;
    }
    return value;
  };
  function or(): boolean {
    let value = and();
    while (peek() === 'OR') {
      take();
      const right = and();
      value = value || right;
    }
    return value;
  }
  const result = or();
  if (at !== tokens.length) throw new Error(`fake table: trailing tokens in "${expression}"`);
  return result;
}

/** Splits on commas outside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += char;
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

/** The SET, REMOVE and ADD clauses of an update expression (DynamoDB takes them in any order, each at most once). */
function updateClauses(expression: string): Partial<Record<'SET' | 'REMOVE' | 'ADD', string>> {
  const clauses: Partial<Record<'SET' | 'REMOVE' | 'ADD', string>> = {};
  const parts = expression.split(/\b(SET|REMOVE|ADD)\s+/).slice(1);
  if (!parts.length || expression.slice(0, expression.search(/\b(SET|REMOVE|ADD)\b/)).trim()) {
    throw new Error(`fake table: unsupported update "${expression}"`);
  }
  for (let i = 0; i < parts.length; i += 2) {
    const clause = parts[i] as 'SET' | 'REMOVE' | 'ADD';
    if (clauses[clause] !== undefined) throw new Error(`fake table: ${clause} twice in "${expression}"`);
    clauses[clause] = parts[i + 1].trim();
  }
  return clauses;
}

/** Applies `SET a = :a, b = if_not_exists(b, :b) REMOVE c ADD n :one` (numbers only) to a copy of the item. */
export function applyUpdate(expression: string, item: Item, scope: Scope): Item {
  const clauses = updateClauses(expression);
  const next = { ...item };
  const name = (token: string) => (token.startsWith('#') ? scope.names[token] : token);
  const value = (token: string) => {
    if (!(token in scope.values)) throw new Error(`fake table: ${token} has no value in "${expression}"`);
    return scope.values[token];
  };
  for (const assignment of clauses.SET ? splitTopLevel(clauses.SET) : []) {
    const [left, right] = assignment.split(/\s*=\s*/);
    const ifNotExists = /^if_not_exists\(\s*([^,\s]+)\s*,\s*(:[A-Za-z0-9_]+)\s*\)$/.exec(right);
    if (ifNotExists) {
      const existing = item[name(ifNotExists[1])];
      next[name(left)] = existing !== undefined ? existing : value(ifNotExists[2]);
    } else next[name(left)] = value(right);
  }
  for (const removed of clauses.REMOVE ? splitTopLevel(clauses.REMOVE) : []) delete next[name(removed)];
  for (const addition of clauses.ADD ? splitTopLevel(clauses.ADD) : []) {
    const [field, amount] = addition.split(/\s+/);
    const by = value(amount);
    const existing = item[name(field)] ?? 0;
    // DynamoDB refuses ADD of a number to a non-number (and sets, which RunIndex never adds to).
    if (typeof by !== 'number' || typeof existing !== 'number') throw new Error(`fake table: ADD of a non-number in "${expression}"`);
    next[name(field)] = existing + by;
  }
  return next;
}

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const clone = <T>(value: T): T => structuredClone(value);
const withoutUndefined = (item: Item): Item => Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined));
/** DynamoDB refuses a key over its limits (partition 2,048 bytes, sort 1,024) with a ValidationException, as the fake does. */
function checkKeySize(key: Item): void {
  if (Buffer.byteLength(String(key.pk)) > 2048 || Buffer.byteLength(String(key.sk)) > 1024) {
    throw Object.assign(new Error('One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes'), {
      name: 'ValidationException',
    });
  }
}

const keyOf = (key: Item) => {
  checkKeySize(key);
  return `${String(key.pk)}\u0000${String(key.sk)}`;
};

export type WriteListener = (command: 'Put' | 'Update' | 'BatchWrite' | 'Delete', item: Item, input: unknown) => void;

/** The table's items, and the mock wiring that serves RunIndex's commands from them. */
export class FakeRunIndexTable {
  readonly items = new Map<string, Item>();
  /** Called after every successful write, with the item as stored; tests use it to observe order or move a clock. */
  onWrite?: WriteListener;
  /** Called before every Update is evaluated; a test may throw from it to inject a fault. */
  beforeUpdate?: (input: UpdateCommandInput) => void;

  constructor(readonly tableName = 'run-index') {}

  put(item: Item): void {
    this.items.set(keyOf(item), clone(withoutUndefined(item)));
  }

  get(pk: string, sk: string): Item | undefined {
    const item = this.items.get(keyOf({ pk, sk }));
    return item && clone(item);
  }

  /** Points every command the mock receives at this table. */
  attach(stub: AwsClientStub<DynamoDBDocumentClient>): this {
    stub.on(GetCommand).callsFake((input: GetCommandInput) => {
      this.checkTable(input.TableName);
      const item = this.items.get(keyOf(input.Key as Item));
      return { Item: item && clone(item) };
    });
    stub.on(PutCommand).callsFake((input: PutCommandInput) => {
      this.checkTable(input.TableName);
      const existing = this.items.get(keyOf(input.Item as Item));
      const scope = { names: input.ExpressionAttributeNames ?? {}, values: input.ExpressionAttributeValues ?? {} };
      if (input.ConditionExpression && !evaluateCondition(input.ConditionExpression, existing, scope)) throw conditionFailed();
      const item = withoutUndefined(clone(input.Item as Item));
      this.items.set(keyOf(item), item);
      this.onWrite?.('Put', clone(item), input);
      return {};
    });
    stub.on(UpdateCommand).callsFake((input: UpdateCommandInput) => {
      this.checkTable(input.TableName);
      this.beforeUpdate?.(input);
      const key = input.Key as Item;
      const existing = this.items.get(keyOf(key));
      const scope = { names: input.ExpressionAttributeNames ?? {}, values: input.ExpressionAttributeValues ?? {} };
      if (input.ConditionExpression && !evaluateCondition(input.ConditionExpression, existing, scope)) throw conditionFailed();
      const item = withoutUndefined(applyUpdate(input.UpdateExpression ?? '', existing ?? { ...key }, scope));
      this.items.set(keyOf(key), item);
      this.onWrite?.('Update', clone(item), input);
      return input.ReturnValues === 'ALL_NEW' ? { Attributes: clone(item) } : {};
    });
    stub.on(DeleteCommand).callsFake((input: DeleteCommandInput) => {
      this.checkTable(input.TableName);
      const key = input.Key as Item;
      const existing = this.items.get(keyOf(key));
      const scope = { names: input.ExpressionAttributeNames ?? {}, values: input.ExpressionAttributeValues ?? {} };
      if (input.ConditionExpression && !evaluateCondition(input.ConditionExpression, existing, scope)) throw conditionFailed();
      this.items.delete(keyOf(key));
      if (existing) this.onWrite?.('Delete', clone(existing), input);
      return {};
    });
    stub.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => {
      for (const [table, requests] of Object.entries(input.RequestItems ?? {})) {
        this.checkTable(table);
        for (const request of requests) {
          if (!request.PutRequest) throw new Error('fake table: only PutRequest is supported');
          const item = withoutUndefined(clone(request.PutRequest.Item as Item));
          this.items.set(keyOf(item), item);
          this.onWrite?.('BatchWrite', clone(item), input);
        }
      }
      return { UnprocessedItems: {} };
    });
    stub.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      this.checkTable(input.TableName);
      const scope = { names: input.ExpressionAttributeNames ?? {}, values: input.ExpressionAttributeValues ?? {} };
      const gsi = Object.values(RUN_INDEX.indexes).find((i) => i.name === input.IndexName);
      if (input.IndexName && !gsi) throw new Error(`fake table: no index ${input.IndexName}`);
      const sortKey = gsi ? gsi.sortKey : 'sk';
      const items = [...this.items.values()]
        .filter((item) => !gsi || (item[gsi.partitionKey] !== undefined && item[gsi.sortKey] !== undefined))
        .filter((item) => evaluateCondition(input.KeyConditionExpression ?? '', item, scope))
        .sort((a, b) => String(a[sortKey]).localeCompare(String(b[sortKey])));
      if (input.ScanIndexForward === false) items.reverse();
      return { Items: items.map(clone), Count: items.length };
    });
    return this;
  }

  private checkTable(name: string | undefined): void {
    if (name !== this.tableName) throw new Error(`fake table: command for table ${name}, not ${this.tableName}`);
  }
}
