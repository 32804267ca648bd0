# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]

ENV GIT_VERSION 2.45.2
RUN $url = ('https://github.com/git-for-windows/git/releases/download/v{0}.windows.1/MinGit-{0}-64-bit.zip' -f $env:GIT_VERSION); `
    Write-Host ('Downloading {0} ...' -f $url); `
    Invoke-WebRequest -Uri $url -OutFile 'git.zip'; `
    Expand-Archive -Path git.zip -DestinationPath C:\git\.; `
    Remove-Item git.zip -Force

COPY app\ C:\app\
WORKDIR C:\app
ENTRYPOINT ["C:\\app\\app.exe"]
