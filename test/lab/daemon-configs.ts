// Configuration files the lab writes for its daemons: the web nodes' nginx, the LB nodes' nginx
// or haproxy, and keepalived for the runs that do not use the agent. Pure functions: text out.
import type { LbNode, WebNode } from './lab-names.js';
import type { TopologyPlan, VipPlan } from './topology.js';

/** Files of one nginx or haproxy instance, all inside the run dir. */
export interface ProxyFiles {
  readonly dir: string;
  readonly config: string;
  readonly pidFile: string;
  readonly errorLog: string;
  /** haproxy stats socket (unused by nginx). */
  readonly statsSocket: string;
}

/** Port of the web nodes' slow backend (slow-backend.ts), reached through the LB proxy at /slow. */
export const SLOW_BACKEND_PORT = 8080;

/** Loopback port of the LB proxies' health/status listener (stub_status, /healthz). */
export const LB_STATUS_PORT = 8081;
/** Response header naming the LB node that proxied a request, so a client sees which LB served it. */
export const LB_NODE_HEADER = 'x-lbha-node';

function nginxCommon(files: ProxyFiles, workerConnections = 1024, workers = 1): string {
  const tmp = `${files.dir}/tmp`;
  // worker_shutdown_timeout bounds a graceful stop (QUIT): a lingering connection cannot keep an
  // old worker alive for ever.
  return `worker_processes ${workers};
worker_shutdown_timeout 10s;
worker_rlimit_nofile ${4 * workerConnections};
error_log ${files.errorLog} notice;
pid ${files.pidFile};

events {
    worker_connections ${workerConnections};
}
`.concat(`
http {
    default_type text/plain;
    access_log off;
    client_body_temp_path ${tmp}/client_body;
    proxy_temp_path ${tmp}/proxy;
    fastcgi_temp_path ${tmp}/fastcgi;
    uwsgi_temp_path ${tmp}/uwsgi;
    scgi_temp_path ${tmp}/scgi;
`);
}

/** A web node: serves its own page (seed 1.2), plus stub_status; with `accessLog`, logs every request there. */
export function renderWebNginx(files: ProxyFiles, htmlDir: string, accessLog?: string): string {
  // "<client address> <uri>": which LB node sent each request (its inner address), and what.
  const log = accessLog ? `    log_format lbha_lab '$remote_addr $request_uri';\n` : '';
  return `${nginxCommon(files)}${log}
    server {
        listen 80 default_server;${accessLog ? `\n        access_log ${accessLog} lbha_lab;` : ''}
        server_name www.xuzhichao.com;
        keepalive_timeout 65;

        location / {
            root ${htmlDir};
            index index.html;
        }

        location = /nginx_status {
            access_log off;
            allow 192.168.50.0/24;
            allow 127.0.0.1;
            deny all;
            stub_status;
        }
    }
}
`;
}

/** The seed's upstream server lines of the web nodes (also the first content of the managed include). */
export function webServerLines(plan: TopologyPlan, indent = ''): string {
  return (Object.keys(plan.webs) as WebNode[]).map((web) => `${indent}server ${plan.webs[web].address} fail_timeout=5s max_fails=3;`).join('\n');
}

/** The slow backends' upstream server lines (also the first content of their managed include). */
export function slowServerLines(plan: TopologyPlan, indent = ''): string {
  return (Object.keys(plan.webs) as WebNode[]).map((web) => `${indent}server ${plan.webs[web].address}:${SLOW_BACKEND_PORT};`).join('\n');
}

/**
 * An LB node's nginx (seed 1.3, plain HTTP: the seed's TLS listener and redirect are not what the
 * failover scenarios exercise). Upstream to both web nodes, round robin. With `upstreamsDir`,
 * the upstreams' server lines come from the agent's managed includes there (POOL.conf). One
 * worker unless `workers` says otherwise (the seed and the deploy example run several).
 */
export function renderLbNginx(plan: TopologyPlan, node: LbNode, files: ProxyFiles, upstreamsDir?: string, workers = 1): string {
  const servers = upstreamsDir ? `        include ${upstreamsDir}/webserver.conf;` : webServerLines(plan, '        ');
  const slow = upstreamsDir ? `        include ${upstreamsDir}/slowserver.conf;` : slowServerLines(plan, '        ');
  // Enough connections for the hung-proxy control run (thousands of requests waiting on slow
  // backends at once): a proxy out of connections is hung, not slow.
  return `${nginxCommon(files, 8192, workers)}
    upstream webserver {
${servers}
        keepalive 32;
    }

    upstream slowserver {
${slow}
    }

    server {
        listen 80;
        server_name ${plan.host};
        add_header ${LB_NODE_HEADER} ${node} always;

        location / {
            proxy_pass http://webserver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 2s;
        }

        location /slow {
            proxy_pass http://slowserver;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_read_timeout 30s;
        }
    }

    server {
        listen 127.0.0.1:${LB_STATUS_PORT};

        location = /nginx_status {
            stub_status;
        }

        location = /healthz {
            return 200 "ok\\n";
        }
    }
}
`;
}

/** What a config looks like after someone broke it: nginx -t / haproxy -c refuse it. */
export function brokenConfig(kind: 'nginx' | 'haproxy'): string {
  return kind === 'nginx'
    ? '# broken on purpose by the lab\nevents {\n    worker_connections 1024;\n}\nhttp {\n    server {\n        listen 80\n'
    : '# broken on purpose by the lab\nglobal\n    no-such-keyword on\n';
}

/**
 * An LB node's haproxy (the haproxy seed's global/defaults/stats page, backends the web nodes).
 * With `serverStateFile`, a reload or restart starts with the server states saved there.
 */
export function renderLbHaproxy(plan: TopologyPlan, node: LbNode, files: ProxyFiles, serverStateFile?: string): string {
  const servers = (Object.keys(plan.webs) as WebNode[])
    .map((web) => `    server ${web} ${plan.webs[web].address}:80 check inter 1s`)
    .join('\n');
  return `global
    maxconn 4000
    nbthread 2
    stats socket ${files.statsSocket} mode 600 level admin
    stats timeout 30s
${serverStateFile ? `    server-state-file ${serverStateFile}\n` : ''}
defaults
    mode http
${serverStateFile ? '    load-server-state-from-file global\n' : ''}    option httplog
    option dontlognull
    option http-server-close
    option idle-close-on-response
    option forwardfor except 127.0.0.0/8
    option redispatch
    retries 3
    timeout http-request 10s
    timeout queue 1m
    timeout connect 10s
    timeout client 1m
    timeout server 1m
    timeout http-keep-alive 10s
    timeout check 10s
    maxconn 3000

listen stats
    bind *:${plan.statsPort}
    stats enable
    stats auth admin:admin
    stats refresh 5s
    stats realm HAProxy\\ Statistics
    stats uri /admin?stats

frontend health
    bind 127.0.0.1:${LB_STATUS_PORT}
    monitor-uri /healthz

frontend www
    bind *:80
    http-response set-header ${LB_NODE_HEADER} ${node}
    default_backend webserver

backend webserver
    balance roundrobin
${servers}
`;
}

/** Base priority the lab's own keepalived config gives a node for a VIP: the home node wins. */
export function labPriority(vip: VipPlan, node: LbNode): number {
  return vip.home === node ? 150 : 100;
}

/**
 * keepalived for runs without the agent ("keepalived" control): VRRPv3, advert_int 0.1, the home
 * node preferred, the inner link tracked. No proxy check: this is the bare data plane.
 */
export function renderLabKeepalived(plan: TopologyPlan, node: LbNode): string {
  const instances = plan.vips
    .map(
      (vip) => `vrrp_instance ${vip.name} {
    state BACKUP
    interface ${vip.interface}
    virtual_router_id ${vip.vrid}
    priority ${labPriority(vip, node)}
    advert_int 0.1
    virtual_ipaddress {
        ${vip.address}/${vip.prefix} dev ${vip.interface}
    }
    track_interface {
        eth2
    }
}
`,
    )
    .join('\n');
  return `global_defs {
    router_id ${node}
    vrrp_version 3
    script_user root
    enable_script_security
}

${instances}`;
}

/** Files the seed's scripts use, adapted to one lab node. */
export interface SeedScriptFiles {
  readonly dir: string;
  readonly checkProxy: string;
  readonly checkDown: string;
  readonly notify: string;
  /** The seed's /etc/keepalived/down. */
  readonly downFile: string;
  readonly notifyLog: string;
  readonly keepalivedPidFile: string;
}

/**
 * The seed's keepalived.conf for one node, unchanged in its timing (advert_int 3 and chk_nginx every
 * 5 s for topology a; advert_int 1 and check_haproxy every 2 s, weight -100 for topology b).
 * Adapted to the lab only where the host forces it: script paths, no eth0 to track, no mail.
 */
export function renderSeedKeepalived(plan: TopologyPlan, node: LbNode, scripts: SeedScriptFiles): string {
  if (plan.proxy === 'nginx') {
    const instances = plan.vips
      .map((vip, i) => {
        const home = vip.home === node;
        return `vrrp_instance VI_${i + 1} {
    state ${home ? 'MASTER' : 'BACKUP'}
    interface ${vip.interface}
    virtual_router_id ${vip.vrid}
    priority ${home ? 120 : 100}
    advert_int 3
    authentication {
        auth_type PASS
        auth_pass ${String(i + 1).repeat(4)}
    }
    virtual_ipaddress {
        ${vip.address}/${vip.prefix} dev ${vip.interface}
    }

    track_interface {
        eth2
    }

    track_script {
        chk_down
        chk_nginx
    }

    notify_master "${scripts.notify} master"
    notify_backup "${scripts.notify} backup"
    notify_fault "${scripts.notify} fault"
}
`;
      })
      .join('\n');
    return `! Configuration File for keepalived (seed 1.4, adapted to the lab)

global_defs {
   router_id keepalived01
   script_user root
   enable_script_security
   vrrp_mcast_group4 224.0.0.19
}

vrrp_script chk_down {
    script "${scripts.checkDown}"
    weight -50
    interval 1
    fall 3
    rise 3
}

vrrp_script chk_nginx {
    script "${scripts.checkProxy}"
    interval 5
}

${instances}`;
  }
  const vip = plan.vips[0];
  if (vip === undefined) throw new Error('topology b has one VIP');
  const master = vip.home === node;
  return `! Configuration File for keepalived (haproxy seed, adapted to the lab)

global_defs {
   router_id k8s
   script_user root
   enable_script_security
}

vrrp_script check_haproxy {
    script "${scripts.checkProxy}"
    interval 2
    weight -100
    fall 3
    rise 2
}

vrrp_instance VI_1 {
    state ${master ? 'MASTER' : 'BACKUP'}
    interface ${vip.interface}
    virtual_router_id ${vip.vrid}
    priority ${master ? 250 : 200}
    advert_int 1

    authentication {
        auth_type PASS
        auth_pass ceb1b3ec013d66163d6ab
    }

    virtual_ipaddress {
        ${vip.address}
    }

    track_script {
        check_haproxy
    }
}
`;
}

/**
 * The seed's chk_nginx.sh, adapted: all lab nodes share one pid namespace, so `pidof nginx` would see
 * every node's nginx; the node's own pid file is checked instead. `systemctl start nginx` becomes the
 * lab's start command and `systemctl stop keepalived` a TERM to this node's keepalived.
 */
export function renderSeedCheckNginx(files: ProxyFiles, scripts: SeedScriptFiles): string {
  return `#!/bin/bash
# seed chk_nginx.sh, adapted to the lab (pid file instead of pidof, no systemd)
alive() { [ -s ${files.pidFile} ] && kill -0 "$(cat ${files.pidFile})" 2>/dev/null; }

if ! alive; then
    /usr/sbin/nginx -c ${files.config} -e ${files.errorLog}
    sleep 2
    if ! alive; then
        kill -TERM "$(cat ${scripts.keepalivedPidFile})"
    fi
fi
exit 0
`;
}

/** The haproxy seed's haproxy_check.sh, adapted (pid file instead of `pgrep -x haproxy`). */
export function renderSeedCheckHaproxy(files: ProxyFiles): string {
  return `#!/bin/bash
# seed haproxy_check.sh, adapted to the lab (pid file instead of pgrep)
if [ -s ${files.pidFile} ] && kill -0 "$(head -n1 ${files.pidFile})" 2>/dev/null; then
    echo "HAProxy running"
    exit 0
fi
echo "HAProxy not running"
exit 1
`;
}

export function renderSeedCheckDown(scripts: SeedScriptFiles): string {
  return `#!/bin/bash
[[ ! -f ${scripts.downFile} ]]
`;
}

/** The seed's notify.sh: a log line instead of a mail, and "start nginx" on master/backup. */
export function renderSeedNotify(plan: TopologyPlan, files: ProxyFiles, scripts: SeedScriptFiles): string {
  const start =
    plan.proxy === 'nginx'
      ? `[ -s ${files.pidFile} ] && kill -0 "$(cat ${files.pidFile})" 2>/dev/null || /usr/sbin/nginx -c ${files.config} -e ${files.errorLog}`
      : ':';
  return `#!/bin/bash
echo "$(date +'%F %T.%N') vrrp transition, changed to be $1" >> ${scripts.notifyLog}
case $1 in
master|backup)
    ${start}
    ;;
fault)
    ;;
*)
    echo "Usage: $(basename $0) {master|backup|fault}"
    exit 1
    ;;
esac
`;
}
