#!/usr/bin/env node
// Compiles dao-bridge/contracts/*.sol with solc-js (the npm package `solc`) into the
// committed JSON artifacts in dao-bridge/artifacts/ (abi + bytecode), one per contract
// that colony deploys. The Rust crate reads only those artifacts, so building it needs no
// Node.
//
//   node scripts/build-contracts.mjs          rewrite artifacts/
//   node scripts/build-contracts.mjs --check  exit 1 if artifacts/ differs from a fresh compile
//
// Run `npm ci` in dao-bridge/ first.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const solc = require('solc');

// Settings are fixed so that a compile is reproducible byte for byte.
const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

// The contracts colony deploys: artifact name -> [source unit, contract name].
const DEPLOYED = {
  DatasetRegistry: ['contracts/DatasetRegistry.sol', 'DatasetRegistry'],
  DatasetToken: ['contracts/DatasetToken.sol', 'DatasetToken'],
  DatasetGovernor: ['contracts/DatasetGovernor.sol', 'DatasetGovernor'],
  TimelockController: ['@openzeppelin/contracts/governance/TimelockController.sol', 'TimelockController'],
  TrainingMarket: ['contracts/TrainingMarket.sol', 'TrainingMarket'],
};

function compile() {
  const sources = {};
  for (const f of fs.readdirSync(path.join(root, 'contracts')).sort()) {
    if (f.endsWith('.sol')) {
      const unit = `contracts/${f}`;
      sources[unit] = { content: fs.readFileSync(path.join(root, unit), 'utf8') };
    }
  }
  const findImports = (unit) => {
    if (!unit.startsWith('@openzeppelin/')) return { error: `unexpected import ${unit}` };
    const file = path.join(root, 'node_modules', unit);
    if (!fs.existsSync(file)) return { error: `${unit} not found: run \`npm ci --prefix dao-bridge\`` };
    return { contents: fs.readFileSync(file, 'utf8') };
  };
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  // Warnings inside OpenZeppelin's sources are theirs to fix; ours are shown.
  for (const e of out.errors || []) {
    if (e.severity === 'error' || !e.sourceLocation?.file?.startsWith('@openzeppelin/')) {
      console.error(e.formattedMessage);
    }
  }
  if (errors.length) process.exit(1);

  const ozVersion = JSON.parse(
    fs.readFileSync(path.join(root, 'node_modules/@openzeppelin/contracts/package.json'), 'utf8'),
  ).version;
  const artifacts = {};
  for (const [name, [unit, contract]] of Object.entries(DEPLOYED)) {
    const c = out.contracts?.[unit]?.[contract];
    if (!c) throw new Error(`solc produced no ${unit}:${contract}`);
    const artifact = {
      contractName: contract,
      sourceName: unit,
      compiler: { solc: solc.version(), openzeppelin: ozVersion, settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer } },
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    };
    artifacts[name] = JSON.stringify(artifact, null, 2) + '\n';
  }
  return artifacts;
}

const check = process.argv.includes('--check');
const artifacts = compile();
const dir = path.join(root, 'artifacts');
let stale = [];
for (const [name, text] of Object.entries(artifacts)) {
  const file = path.join(dir, `${name}.json`);
  if (check) {
    const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (old !== text) stale.push(`artifacts/${name}.json`);
  } else {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, text);
    const size = (JSON.parse(text).deployedBytecode.length - 2) / 2;
    console.log(`wrote artifacts/${name}.json (runtime ${size} bytes)`);
  }
}
if (check) {
  if (stale.length) {
    console.error(`stale artifacts (run \`npm run build --prefix dao-bridge\`): ${stale.join(', ')}`);
    process.exit(1);
  }
  console.log('artifacts match a fresh compile');
}
