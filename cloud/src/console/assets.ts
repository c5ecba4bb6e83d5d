import { sha256Hex } from '../auth/secrets.ts';

/**
 * The console's only stylesheet and script, kept as strings in the module so that they ship inside
 * the Workers bundle as they do on Deno and Node (no file system to read them from). They are
 * served under a name that carries their hash, so browsers may cache them for a year.
 */
const STYLE = `
:root{--fg:#1b1f24;--muted:#57606a;--bg:#fff;--panel:#f6f8fa;--line:#d0d7de;--link:#0a58ca;--accent:#0a58ca;--ok:#116329;--warn:#7d4e00;--bad:#b3261e;--focus:#f0a000;--relay:#3b6fb6;--cloud:#7b4bb7;--callback:#1d7f4e;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--panel:#161b22;--line:#30363d;--link:#79b8ff;--accent:#388bfd;--ok:#56d364;--warn:#e3b341;--bad:#ff7b72;--relay:#6ea8fe;--cloud:#b794f4;--callback:#56d364}}
*{box-sizing:border-box}
html{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
body{margin:0;overflow-wrap:break-word}
a{color:var(--link)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:.5rem;top:-3rem;background:var(--bg);padding:.5rem;z-index:2}
.skip:focus{top:.5rem}
header{background:var(--panel);border-bottom:1px solid var(--line)}
header .bar{max-width:72rem;margin:auto;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center}
header nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
header nav a[aria-current=page]{font-weight:700;text-decoration:none}
.brand{font-weight:700;text-decoration:none;color:var(--fg)}
.who{margin-left:auto;display:flex;gap:.5rem;align-items:center;color:var(--muted);font-size:.9rem}
main{max-width:72rem;margin:auto;padding:1rem}
main:focus{outline:none}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
h3{font-size:1rem;margin:1rem 0 .25rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;background:var(--panel)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
fieldset{border:0;padding:0;margin:0;display:grid;gap:.75rem;min-width:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;overflow-wrap:anywhere}
pre{background:var(--panel);border:1px solid var(--line);padding:.5rem;overflow:auto;max-height:24rem;font-size:.85rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem}
.card,.panel{border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem;background:var(--bg)}
ol.steps{margin:.25rem 0;padding-left:1.5rem;display:grid;gap:.4rem}ol.steps li.next{font-weight:700}ol.steps li.next .hint{font-weight:400}ol.steps li.done{color:var(--muted)}
fieldset legend{font-weight:600;padding:0}
.panel>h2:first-child{margin-top:0}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem 2rem}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;border:1px solid currentColor;font-size:.8rem;white-space:nowrap}
.s-ok,.s-deployed,.s-succeeded,.s-online{color:var(--ok)}
.s-failed,.s-bad,.s-abandoned{color:var(--bad)}
.s-provisioning,.s-in-progress,.s-stale,.s-uploading,.s-pending{color:var(--warn)}
.muted{color:var(--muted)}
.msg{border:1px solid var(--line);border-left:4px solid var(--ok);padding:.5rem 1rem;margin:0 0 1rem;background:var(--panel)}
.msg.err{border-left-color:var(--bad)}
.msg ul{margin:.25rem 0 0;padding-left:1.25rem}
form.stack{display:grid;gap:.75rem;max-width:40rem}
form.inline{display:inline}
.row{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end}
label{display:block;font-weight:600;font-size:.92rem}
label.check{display:flex;gap:.4rem;align-items:center;font-weight:400}
.hint{display:block;color:var(--muted);font-weight:400;font-size:.85rem;overflow-wrap:anywhere}
.ferr{display:block;color:var(--bad);font-weight:600;font-size:.85rem}
input,select,textarea{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--muted);border-radius:4px;padding:.35rem .5rem;max-width:100%}
input[type=text],input[type=password],input[type=search],input[type=number],select,textarea{width:100%}
textarea{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88rem}
[aria-invalid=true]{border-color:var(--bad);border-width:2px}
button{font:inherit;padding:.4rem .9rem;border-radius:4px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button:disabled{opacity:.55;cursor:progress}
button.secondary{background:transparent;color:var(--link)}
button.danger{background:var(--bad);border-color:var(--bad)}
progress{width:100%;height:1.2rem}
.chart{width:100%;height:auto;max-width:60rem;min-width:34rem}
.chart text{font:11px system-ui,sans-serif;fill:var(--fg)}
.chart .axis{stroke:var(--line)}
.chart .relay{fill:var(--relay)}.chart .cloud{fill:var(--cloud)}.chart .callback{fill:var(--callback)}.chart .error{fill:var(--bad)}
.legend span::before{content:"";display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em;vertical-align:-.05em}
.legend .relay::before{background:var(--relay)}.legend .cloud::before{background:var(--cloud)}.legend .callback::before{background:var(--callback)}.legend .error::before{background:var(--bad)}
details>summary{cursor:pointer}
.pager{display:flex;gap:1rem;margin:.75rem 0}
@media (max-width:40rem){main{padding:.75rem}.who{margin-left:0}th,td{padding:.3rem}h1{font-size:1.3rem}}
`;

/**
 * Progressive enhancement, except for one form: it seals a BMC password in the browser (seal() is
 * shared/crypto/seal.ts written again in the script's dialect: X25519 + HKDF-SHA256 + AES-256-GCM, the
 * same salt, info, associated data and s1 format; test/console/console-bmc.test.ts opens its output
 * with openSecret), and the BMC form says it needs JavaScript. It sends the image upload form through the
 * multipart upload API (parts of data-part-size bytes, each retried) to show progress, and asks before buttons
 * marked data-confirm.
 */
const SCRIPT = `
(function(){
"use strict";
function b64u(buf){var b=new Uint8Array(buf),t="";for(var i=0;i<b.length;i++)t+=String.fromCharCode(b[i]);return btoa(t).split("+").join("-").split("/").join("_").split("=").join("")}
function unb64u(s){var t=atob(s.split("-").join("+").split("_").join("/")+"===".slice((s.length+3)%4)),b=new Uint8Array(t.length);for(var i=0;i<t.length;i++)b[i]=t.charCodeAt(i);return b}
function seal(secret,relayPublicKey,machineId,relayId){
  var S=crypto.subtle,enc=new TextEncoder(),X={name:"X25519"},rp=unb64u(relayPublicKey),ephPub,NUL=String.fromCharCode(0);
  return Promise.all([S.importKey("raw",rp,X,true,[]),S.generateKey(X,true,["deriveBits"])]).then(function(k){
    return Promise.all([S.exportKey("raw",k[1].publicKey),S.deriveBits({name:"X25519",public:k[0]},k[1].privateKey,256)]);
  }).then(function(r){
    ephPub=new Uint8Array(r[0]);
    var salt=new Uint8Array(ephPub.length+rp.length);salt.set(ephPub,0);salt.set(rp,ephPub.length);
    return S.importKey("raw",r[1],"HKDF",false,["deriveKey"]).then(function(ikm){
      return S.deriveKey({name:"HKDF",hash:"SHA-256",salt:salt,info:enc.encode("edgeboot bmc seal v1")},ikm,{name:"AES-GCM",length:256},false,["encrypt"]);
    });
  }).then(function(key){
    var iv=crypto.getRandomValues(new Uint8Array(12));
    return S.encrypt({name:"AES-GCM",iv:iv,additionalData:enc.encode("edgeboot-bmc-v1"+NUL+machineId+NUL+relayId)},key,enc.encode(secret)).then(function(ct){
      return "s1."+b64u(ephPub)+"."+b64u(iv)+"."+b64u(ct);
    });
  });
}
document.addEventListener("submit",function(e){
  var b=e.submitter||e.target.querySelector("[data-confirm]");
  var m=b&&b.getAttribute("data-confirm");
  if(m&&!window.confirm(m))e.preventDefault();
});
var bmc=document.getElementById("bmc-form");
if(bmc)bmc.addEventListener("submit",function(e){
  e.preventDefault();
  var pw=document.getElementById("f-bmc-password"),st=document.getElementById("bmc-status"),btn=bmc.querySelector("button[type=submit]");
  var to=JSON.parse(bmc.getAttribute("data-recipients")||"[]"),machineId=bmc.getAttribute("data-machine-id");
  if(!window.crypto||!crypto.subtle||!window.TextEncoder){st.textContent="This browser cannot seal the password here (WebCrypto needs HTTPS): use edgeboot machines bmc set.";return}
  btn.disabled=true;st.textContent="Sealing the password to "+to.length+" relay(s)…";
  Promise.all(to.map(function(r){return seal(pw.value,r.publicKey,machineId,r.relayId).then(function(s){return {relayId:r.relayId,sealed:s}})})).then(function(creds){
    bmc.elements.credentials.value=JSON.stringify(creds);pw.value="";bmc.submit();
  },function(err){btn.disabled=false;st.textContent="Sealing failed ("+((err&&err.message)||err)+"): this browser may lack X25519 in WebCrypto; use edgeboot machines bmc set."});
});
var form=document.getElementById("upload");
if(!form||!window.XMLHttpRequest||!window.Blob)return;
var bar=document.getElementById("upload-progress"),status=document.getElementById("upload-status");
function say(t){status.textContent=t}
function mib(n){return (n/1048576).toFixed(n<10485760?1:0)+" MiB"}
function send(method,url,body,onProgress){
  return new Promise(function(ok,fail){
    var x=new XMLHttpRequest();x.open(method,url);
    x.setRequestHeader("x-csrf-token",form.elements._csrf.value);
    if(typeof body==="string")x.setRequestHeader("content-type","application/json");
    else if(body)x.setRequestHeader("content-type","application/octet-stream");
    if(onProgress&&x.upload)x.upload.onprogress=function(ev){onProgress(ev.loaded)};
    x.onload=function(){var j=null;try{j=JSON.parse(x.responseText)}catch(_){}
      if(x.status>=200&&x.status<300)ok(j);else fail({status:x.status,message:j&&j.error?j.error.message+(j.error.issues?": "+j.error.issues.map(function(i){return i.path+" "+i.message}).join("; "):""):"HTTP "+x.status});};
    x.onerror=function(){fail({status:0,message:"network error"})};
    x.send(body||null);
  });
}
function retry(fn,n){return fn().catch(function(err){if(n>0&&(err.status===0||err.status>=500))return new Promise(function(r){setTimeout(r,1000)}).then(function(){return retry(fn,n-1)});throw err})}
form.addEventListener("submit",function(e){
  if(e.defaultPrevented)return;
  var file=form.elements.file.files[0];if(!file)return;
  e.preventDefault();
  var btn=form.querySelector("button");btn.disabled=true;bar.hidden=false;bar.value=0;bar.max=file.size;
  var base="/console/api/images",started=Date.now(),id,upload,PART=+form.getAttribute("data-part-size")||33554432;
  var meta={name:form.elements.name.value,kind:form.elements.kind.value,contentType:form.elements.contentType.value||"application/octet-stream"};
  say("Creating the image record…");
  send("POST",base,JSON.stringify(meta)).then(function(img){
    id=img.id;say("Starting the upload…");
    return send("POST",base+"/"+id+"/uploads",JSON.stringify({size:file.size,partSize:Math.max(PART,Math.ceil(file.size/10000))}));
  }).then(function(u){
    upload=u;var n=1;
    function next(){
      if(n>u.partCount)return Promise.resolve();
      var from=(n-1)*u.partSize,part=file.slice(from,Math.min(file.size,from+u.partSize)),k=n;
      return retry(function(){return send("PUT",base+"/"+id+"/uploads/"+u.id+"/parts/"+k,part,function(l){
        var done=from+l,secs=(Date.now()-started)/1000,rate=done/Math.max(secs,0.001);
        bar.value=done;say(mib(done)+" of "+mib(file.size)+" · "+mib(rate)+"/s · about "+Math.ceil((file.size-done)/rate)+" s left · part "+k+" of "+u.partCount);
      })},3).then(function(){n++;return next()});
    }
    return next();
  }).then(function(){
    say("Checking the SHA-256…");
    return send("POST",base+"/"+id+"/uploads/"+upload.id+"/complete","{}");
  }).then(function(img){
    bar.value=file.size;say("Uploaded: "+mib(img.size)+", sha256 "+img.sha256);
    window.location.assign("/console/images?ok=uploaded");
  },function(err){
    btn.disabled=false;say("Upload failed: "+err.message);
  });
});
})();
`;

export interface Asset {
  path: string;
  body: string;
  contentType: string;
  etag: string;
}

function asset(name: string, ext: string, body: string, contentType: string): Asset {
  const hash = sha256Hex(body).slice(0, 12);
  return { path: `/console/static/${name}.${hash}.${ext}`, body, contentType, etag: `"${hash}"` };
}

let built: { style: Asset; script: Asset } | undefined;

/** Hashed lazily: Workers forbid nothing here, but there is no reason to pay for it at import. */
export function assets(): { style: Asset; script: Asset } {
  built ??= {
    style: asset('console', 'css', STYLE.trim(), 'text/css; charset=utf-8'),
    script: asset('console', 'js', SCRIPT.trim(), 'text/javascript; charset=utf-8'),
  };
  return built;
}
